"""Configuration from `PROVREG_*` environment variables (or a `.env` file), with safe defaults for development.

Production mode fails closed: it refuses to start without an admin token of real strength.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fingerprint.video.decode import VideoLimits
from registry.errors import ConfigurationError
from registry.policy import DEFAULT_MIN_QUALITY, DEFAULT_STRONG, DEFAULT_WEAK, MAX_DISTANCE, MatchPolicy

MIN_ADMIN_TOKEN_LENGTH = 32
_VIDEO = VideoLimits()  # the video caps' defaults live with the decoder; `registry.media.limits` passes them back


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROVREG_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("provreg-data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file registry.sqlite3 in the data directory"
    )
    auto_migrate: bool = Field(
        default=False, description="migrate a stale database schema at start-up instead of refusing to start"
    )
    admin_token: SecretStr | None = None
    log_origin: str | None = Field(
        default=None, description="the log's name in its checkpoints; fixed when the log is created"
    )

    index_before_serving: bool = Field(
        default=False,
        description="take connections only once the index is loaded (`serve --workers N` sets it: one port, N workers)",
    )
    full_audit_interval_hours: float = Field(
        default=24, ge=0, description="how often the server re-audits the whole log; 0: only at start-up if no mark"
    )
    # Request bodies are capped while they stream in (api/limits.py); an anonymous caller gets the lower caps.
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024, gt=0, description="multipart body of one upload, from an authenticated caller (413)"
    )
    anonymous_max_upload_bytes: int = Field(
        default=20 * 1024 * 1024, gt=0, description="the same from an anonymous caller (at most max_upload_bytes)"
    )
    max_document_bytes: int = Field(
        default=1024 * 1024,
        ge=64 * 1024,
        description="any body that is not multipart (JSON documents, forms): parsed whole, so kept small (413)",
    )
    max_pixels: int = Field(default=50_000_000, gt=0, description="decode cap, checked from the header")
    max_decoded_bytes: int = Field(
        default=200_000_000, gt=0, description="width x height x channels x bytes per sample, checked from the header"
    )
    max_bits_per_sample: int = Field(default=16, gt=0, description="bits per sample the file declares")
    max_jpeg_scans: int = Field(default=100, gt=0, description="SOS markers in a JPEG, counted before decoding")
    max_video_seconds: float = Field(
        default=_VIDEO.max_video_seconds, gt=0, description="video duration, declared and decoded (413)"
    )
    max_video_frames: int = Field(
        default=_VIDEO.max_video_frames, gt=0, description="frames a video may have, declared and decoded (413)"
    )
    max_video_pixels: int = Field(default=_VIDEO.max_video_pixels, gt=0, description="pixels of one video frame (413)")
    max_video_bytes: int = Field(default=_VIDEO.max_video_bytes, gt=0, description="size of a video file (413)")
    video_query_fps: float = Field(
        default=_VIDEO.query_fps, gt=0, le=30, description="frames per second a clip is hashed at"
    )
    video_reference_fps: float = Field(
        default=_VIDEO.reference_fps, gt=0, le=30, description="frames per second a registered video is hashed at"
    )
    # Media work runs in a pool of worker processes (registry.pool). One request's tasks (decode, fingerprint,
    # analysis, assessment) share one budget of CPU time, wall-clock time and decoded video pixels.
    media_workers: int = Field(default=2, gt=0, description="worker processes that decode and analyse media")
    media_queue: int = Field(default=8, ge=0, description="requests that may wait for a worker before 503")
    media_cpu_seconds: float = Field(
        default=30, gt=0, description="CPU time one request's media work may use, every stage together (422)"
    )
    media_pixels: int = Field(
        default=20_000_000_000,
        gt=0,
        description="video pixels one request may decode (width x height x frames, every stage together; 413)",
    )
    media_memory_bytes: int = Field(default=3 * 1024**3, gt=0, description="address space of one worker (422)")
    media_recycle_bytes: int = Field(
        default=768 * 1024**2, gt=0, description="resident memory after which a worker is replaced by a fresh one"
    )
    media_wall_seconds: float = Field(
        default=60, gt=0, description="wall-clock time one request's media work may take, every stage together (422)"
    )
    # Fairness between clients (a publisher's API key, else the client address), so one cannot starve another.
    media_client_workers: int = Field(
        default=1, gt=0, description="media tasks of one client that run at once; the rest wait their turn"
    )
    media_client_places: int = Field(
        default=4,
        gt=0,
        description="media requests one client may have in flight, and its media tasks running or waiting (429)",
    )
    body_read_seconds: float = Field(
        default=120, gt=0, description="time a request with media may take to send its whole body (408)"
    )
    # Long work runs as a job (registry.jobs): its own workers, under these longer limits.
    sync_video_seconds: float = Field(
        default=120, gt=0, description="a registered video longer than this runs as a job (202) instead of inline"
    )
    job_workers: int = Field(default=1, gt=0, description="worker processes (and threads) that run jobs")
    job_queue: int = Field(default=8, ge=0, description="jobs that may wait for a worker before 503")
    job_cpu_seconds: float = Field(default=3600, gt=0, description="CPU time one job's media work may use")
    job_pixels: int = Field(
        default=2_000_000_000_000, gt=0, description="video pixels one job may decode (width x height x frames)"
    )
    job_memory_bytes: int = Field(default=3 * 1024**3, gt=0, description="address space of one job worker")
    job_wall_seconds: float = Field(default=7200, gt=0, description="wall-clock time one job's media work may take")
    match_threshold: int = Field(
        default=DEFAULT_STRONG, ge=0, le=MAX_DISTANCE, description="strong: PDQ distance still called a copy"
    )
    match_weak_threshold: int = Field(
        default=DEFAULT_WEAK, ge=0, le=MAX_DISTANCE, description="weak: PDQ distance that keypoints must confirm"
    )
    match_min_quality: int = Field(
        default=DEFAULT_MIN_QUALITY, ge=0, le=100, description="least hash quality searched or matched"
    )
    max_matches: int = Field(default=10, gt=0, le=1000)
    batch_max_items: int = Field(
        default=1000, gt=0, description="files or hashes in one POST /v1/check/batch from an authenticated caller"
    )
    anonymous_batch_max_items: int = Field(
        default=100, gt=0, description="the same from an anonymous caller (at most batch_max_items)"
    )
    batch_max_bytes: int = Field(
        default=1024 * 1024 * 1024,
        gt=0,
        description="multipart body of one batch check from an authenticated caller (each file also under "
        "max_upload_bytes)",
    )
    anonymous_batch_max_bytes: int = Field(
        default=200 * 1024 * 1024, gt=0, description="the same from an anonymous caller (at most batch_max_bytes)"
    )
    batch_item_max_bytes: int = Field(
        default=4096,
        ge=256,
        description="one hash object of a JSON batch; a JSON batch's body is at most its items times this",
    )
    batch_concurrency: int = Field(default=2, gt=0, le=64, description="items of one batch checked at a time")
    index: Literal["faiss", "pgvector"] = Field(
        default="faiss", description="hash search: faiss in each process, or pgvector HNSW indexes in PostgreSQL"
    )
    retrieval_features: int | None = Field(
        default=None,
        gt=0,
        description="descriptors per original in the in-memory vote index (default: the index's "
        "INDEXED_PER_REFERENCE); verification always reads all stored ones",
    )
    pgvector_top_k: int = Field(default=200, ge=1, le=1000, description="nearest rows per query code, then the radius")
    pgvector_ef_search: int = Field(default=400, ge=1, le=1000, description="hnsw.ef_search; at least top_k")
    picture_ttl_seconds: int = Field(default=600, gt=0, description="how long a check's comparison pictures are kept")
    kept_max_bytes: int = Field(
        default=2 * 1024**3, gt=0, description="kept pictures, check analyses and query bytes, together"
    )
    kept_client_max_bytes: int = Field(
        default=256 * 1024**2, gt=0, description="what one client's requests may keep at once; its oldest go first"
    )
    detector: Literal["on", "off"] = Field(
        default="on", description="assess media no registered original matches (the check's `assessment`)"
    )
    detector_video_frames: int = Field(
        default=16, ge=1, le=64, description="frames of a video the assessment samples, evenly spread, however long"
    )
    statement_max_age_seconds: int = Field(default=600, gt=0, description="how old created_at may be")
    statement_max_skew_seconds: int = Field(default=120, ge=0, description="how far in the future it may be")
    # Signed documents are logged for ever, so they are bounded before anything is stored (registry.statements).
    statement_max_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    statement_max_depth: int = Field(
        default=32, ge=3, le=128, description="nesting levels; responses add a few and serialisers stop near 255"
    )
    statement_max_object_keys: int = Field(default=256, ge=16, description="keys in any one object")
    statement_max_keys: int = Field(default=2048, ge=16, description="keys in all objects together")
    statement_max_string_length: int = Field(default=8192, ge=128, description="characters in any one string")
    statement_max_array_length: int = Field(default=1024, ge=1, description="elements in any one array")
    statement_max_integer_digits: int = Field(
        default=16, ge=1, le=16, description="canonical JSON carries integers up to 2**53, 16 digits"
    )

    @model_validator(mode="after")
    def _policy_is_consistent(self) -> Settings:
        self.match_policy  # noqa: B018 - raises ValueError, which pydantic reports with the field values
        return self

    @model_validator(mode="after")
    def _index_fits_the_database(self) -> Settings:
        """Refused as a configuration error (exit 8), before anything opens: the index cannot work otherwise."""
        if self.index == "pgvector" and not self.sqlalchemy_url.startswith("postgresql"):
            raise ConfigurationError(
                "PROVREG_INDEX=pgvector needs a PostgreSQL database: set PROVREG_DATABASE_URL to a postgresql:// "
                "(or postgresql+psycopg://) URL, or use PROVREG_INDEX=faiss"
            )
        if self.pgvector_top_k > self.pgvector_ef_search:
            raise ConfigurationError(
                "PROVREG_PGVECTOR_TOP_K must not exceed PROVREG_PGVECTOR_EF_SEARCH: HNSW returns at most ef_search rows"
            )
        return self

    @property
    def match_policy(self) -> MatchPolicy:
        return MatchPolicy(self.match_threshold, self.match_weak_threshold, self.match_min_quality)

    rate_limit_enabled: bool = Field(default=True, description="per-key and per-address token buckets (429)")
    rate_limit_anonymous_per_minute: float = Field(default=300, gt=0, description="refill per client address")
    rate_limit_anonymous_burst: int = Field(default=60, gt=0, description="requests an address may send at once")
    rate_limit_publisher_per_minute: float = Field(default=1200, gt=0, description="refill per API key")
    rate_limit_publisher_burst: int = Field(default=200, gt=0, description="requests a key may send at once")

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'registry.sqlite3').resolve()}"

    def resolved_admin_token(self) -> str:
        """The admin token; in development one is generated once and kept in the data directory."""
        if self.admin_token is not None:
            token = self.admin_token.get_secret_value()
            if self.env == "production" and len(token) < MIN_ADMIN_TOKEN_LENGTH:
                raise ConfigurationError(
                    f"PROVREG_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_LENGTH} characters in production"
                )
            return token
        if self.env == "production":
            raise ConfigurationError("PROVREG_ADMIN_TOKEN is required when PROVREG_ENV=production")
        path = self.data_dir / "admin-token"
        if not path.exists():
            write_private_file(path, secrets.token_urlsafe(32).encode())
        return path.read_text().strip()


def write_private_file(path: Path, data: bytes) -> None:
    """Create `path` readable by its owner only; refuses to overwrite, so no secret is ever lost."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
