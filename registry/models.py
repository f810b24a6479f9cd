"""SQLModel tables. Public views live in api/schemas.py: nothing here is serialised to clients directly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from registry.db import UTCDateTime


def _utc(*, optional: bool = False, index: bool = False) -> Any:
    """A timezone-aware timestamp column; an `optional` one is nullable and defaults to None.

    Returns Any as sqlmodel.Field does: the FieldInfo stands in for the annotated type of the column.
    """
    if optional:
        return Field(default=None, nullable=True, sa_type=UTCDateTime, index=index)
    return Field(sa_type=UTCDateTime, index=index)


class WriteLock(SQLModel, table=True):
    """One row every writing transaction updates first; see db.take_write_lock."""

    __tablename__ = "write_lock"
    id: int = Field(primary_key=True)
    generation: int = 0


class Publisher(SQLModel, table=True):
    __tablename__ = "publisher"
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(index=True, unique=True, max_length=200)
    created_at: datetime = _utc()
    verification_method: str = Field(max_length=100)
    verification_evidence: str = Field(max_length=2000)
    verified_by: str = Field(max_length=200)
    verified_at: datetime = _utc()
    verification_expires_at: datetime | None = _utc(optional=True)


def is_verified(publisher: Publisher, now: datetime) -> bool:
    """Whether the operator's verification of `publisher` is in force at `now` (no expiry: until withdrawn)."""
    return publisher.verification_expires_at is None or publisher.verification_expires_at > now


class PublisherKey(SQLModel, table=True):
    """An Ed25519 public key of a publisher; exactly one per publisher has `retired_at` unset (its current key)."""

    __tablename__ = "publisher_key"
    key_id: str = Field(primary_key=True, max_length=64)
    publisher_id: str = Field(foreign_key="publisher.id", index=True, max_length=40)
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _utc()
    retired_at: datetime | None = _utc(optional=True)


class KeyRevocation(SQLModel, table=True):
    """A publisher key reported compromised: what it signed from `compromised_since` on is suspect."""

    __tablename__ = "key_revocation"
    key_id: str = Field(foreign_key="publisher_key.key_id", primary_key=True, max_length=64)
    compromised_since: datetime = _utc()
    log_index: int = Field(unique=True)


class ApiKey(SQLModel, table=True):
    """Only the SHA-256 of a key is kept: a database leak does not leak working credentials."""

    __tablename__ = "api_key"
    id: str = Field(primary_key=True, max_length=40)
    publisher_id: str = Field(foreign_key="publisher.id", index=True, max_length=40)
    secret_sha256: str = Field(index=True, unique=True, max_length=64)
    created_at: datetime = _utc()
    revoked_at: datetime | None = _utc(optional=True)


class UsedNonce(SQLModel, table=True):
    """Every nonce a publisher has signed with, so a captured request cannot be replayed."""

    __tablename__ = "used_nonce"
    publisher_id: str = Field(foreign_key="publisher.id", primary_key=True, max_length=40)
    nonce: str = Field(primary_key=True, max_length=128)


class Registration(SQLModel, table=True):
    __tablename__ = "registration"
    __table_args__ = (UniqueConstraint("publisher_id", "content_sha256"),)
    id: str = Field(primary_key=True, max_length=40)
    publisher_id: str = Field(foreign_key="publisher.id", index=True, max_length=40)
    key_id: str = Field(foreign_key="publisher_key.key_id", max_length=64)
    statement: str  # RFC 8785 canonical JSON, exactly the bytes that were signed after the domain prefix
    signature: str = Field(max_length=200)  # base64 Ed25519 signature
    content_sha256: str = Field(index=True, max_length=64)
    media_type: str = Field(max_length=100)
    size: int
    kind: str = Field(max_length=20)  # the media kind that fingerprinted it ("image")
    facts: str  # JSON of kind-specific facts (an image's width, height and trim box)
    created_at: datetime = _utc(index=True)  # integration time, set by the registry, never by the client
    log_index: int = Field(unique=True)


class PriorRegistration(SQLModel, table=True):
    """An earlier registration, by another publisher, of the content `registration_id` repeats (the same bytes, or
    a strong perceptual match), found when `registration_id` was registered (`registry.precedence`). The later one
    is accepted: pool footage is shared, and only the log can say who came first; its views name the first."""

    __tablename__ = "prior_registration"
    registration_id: str = Field(foreign_key="registration.id", primary_key=True, max_length=40)
    prior_id: str = Field(foreign_key="registration.id", primary_key=True, max_length=40)
    exact: bool  # the same bytes


def stored_id(row_id: int | None) -> int:
    """The id of a row read from the database: only a row not yet flushed has none, so None here is a bug."""
    if row_id is None:
        raise RuntimeError("a row read from the database has no id")
    return row_id


class LocalFeatureSet(SQLModel, table=True):
    """An original's ORB keypoints (`fingerprint.features.LocalFeatures` blob); its id is the descriptor index's id."""

    __tablename__ = "local_features"
    id: int | None = Field(default=None, primary_key=True)
    registration_id: str = Field(foreign_key="registration.id", unique=True, max_length=40)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class VideoTrack(SQLModel, table=True):
    """A video original's frame track (`fingerprint.video.track.FrameTrack` blob): its sampled frames' PDQ hashes
    by time. The match index numbers each frame `id * FRAMES_PER_TRACK + frame`, so it rebuilds from this table.
    `audio` is its sound track's fingerprint (`fingerprint.audio.AudioFingerprint` blob), None without a track."""

    __tablename__ = "video_track"
    id: int | None = Field(default=None, primary_key=True)
    registration_id: str = Field(foreign_key="registration.id", unique=True, max_length=40)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    audio: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class MediaHash(SQLModel, table=True):
    """One perceptual hash of a registration; its id is the faiss id, so the index rebuilds from this table."""

    __tablename__ = "media_hash"
    # One index per access path: by owner (a match's hashes), and by algorithm in id order (index catch-up).
    # Two single-column indexes let SQLite pick either for both, and it sometimes picked a full scan.
    __table_args__ = (
        Index("ix_media_hash_registration_alg", "registration_id", "alg"),
        Index("ix_media_hash_alg_id", "alg", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    registration_id: str = Field(foreign_key="registration.id", max_length=40)
    alg: str = Field(max_length=20)
    variant: str = Field(max_length=40)  # "canonical", or an extra reference hash such as "crop80"
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    quality: int | None = None  # the algorithm's confidence in this hash (PDQ quality), where it has one


class ContentRevocation(SQLModel, table=True):
    """A publisher withdrew one of its registrations; the registration and its log entry stay as they were."""

    __tablename__ = "content_revocation"
    registration_id: str = Field(foreign_key="registration.id", primary_key=True, max_length=40)
    reason: str = Field(max_length=1000)
    revoked_at: datetime = _utc()
    log_index: int = Field(unique=True)


class LogEntry(SQLModel, table=True):
    """One leaf of the transparency log: the RFC 8785 JSON of one event, exactly as hashed. Never updated."""

    __tablename__ = "log_entry"
    log_index: int = Field(primary_key=True)
    kind: str = Field(max_length=40)
    subject: str = Field(index=True, max_length=64)  # the registration, publisher or key the event is about
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    entry: str


class LogNode(SQLModel, table=True):
    """The hash of one perfect subtree: leaves [position * 2**level, (position + 1) * 2**level)."""

    __tablename__ = "log_node"
    level: int = Field(primary_key=True)
    position: int = Field(primary_key=True)
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LogCheckpoint(SQLModel, table=True):
    """A signed tree head as issued: the signed-note text, so auditors can recheck the very bytes we served."""

    __tablename__ = "log_checkpoint"
    size: int = Field(primary_key=True)
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: str
    created_at: datetime = _utc()


class LogAuditMark(SQLModel, table=True):
    """The last tree head the audit passed, as a note signed by the log key: start-up audits only what follows.

    Signed because anyone who can edit this row could otherwise move it forward past their own edits.
    """

    __tablename__ = "log_audit_mark"
    id: int = Field(default=1, primary_key=True)  # one row
    note: str


class Job(SQLModel, table=True):
    """Long media work (registering an hour of footage) run in the background, polled at `GET /v1/jobs/{id}`.

    Kept in the database so a restart cannot lose one silently: a queued or running job whose process stopped
    renewing `heartbeat_at` is marked failed. With several API processes any of them answers the poll.
    """

    __tablename__ = "job"
    id: str = Field(primary_key=True, max_length=64)  # unguessable: it is the only credential of a check's job
    kind: str = Field(max_length=20)  # "registration"
    state: str = Field(max_length=10)  # queued | running | done | failed
    progress: float = 0.0
    owner_publisher_id: str | None = Field(default=None, foreign_key="publisher.id", index=True, max_length=40)
    created_at: datetime = _utc()
    finished_at: datetime | None = _utc(optional=True)
    # Renewed while a live process holds the job; a stale one belongs to a process that is gone (registry.jobs).
    heartbeat_at: datetime = _utc()
    result: str | None = None  # JSON: the body the synchronous call answers
    error: str | None = None  # JSON: {"code", "message", ...details}, as the synchronous call's error body


class WebSession(SQLModel, table=True):
    """A publisher signed in on the web desk. The cookie holds a random token and only its SHA-256 is kept, so a
    database leak opens no desk. Ending a session deletes its row: sign-out, the API key it was opened with
    revoked, a key of the publisher reported compromised, the publisher's verification ended (registry.websessions).
    """

    __tablename__ = "web_session"
    token_sha256: str = Field(primary_key=True, max_length=64)
    publisher_id: str = Field(foreign_key="publisher.id", index=True, max_length=40)
    api_key_id: str = Field(foreign_key="api_key.id", index=True, max_length=40)
    created_at: datetime = _utc()
    expires_at: datetime = _utc(index=True)


class RateBucket(SQLModel, table=True):
    """One caller's rate limit on PostgreSQL, shared by every API process (api/ratelimit.py); UNLOGGED there.

    `tat` is the generic cell rate algorithm's theoretical arrival time, in the database's epoch seconds: a caller
    may send a request while `tat - now` leaves room for one more within its burst. A row whose `tat` has passed is a
    full bucket and is swept.
    """

    __tablename__ = "rate_bucket"
    bucket: str = Field(primary_key=True, max_length=200)
    tat: float = Field(index=True)
