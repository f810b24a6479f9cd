"""Domain errors: every failure a caller can cause, each with a message fit to show that caller.

The API maps these classes to HTTP statuses in one handler, the CLI to exit codes in one table; nothing below
`api/` knows about either.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RegistryError(Exception):
    """Base class. `code` is a stable machine-readable name; `message` says what went wrong and what to do."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(RegistryError):
    code = "invalid_request"


class InvalidStatement(InvalidRequest):
    """The signed statement is malformed, inconsistent with the upload, stale, or replays a nonce."""

    code = "invalid_statement"


class InvalidSignature(InvalidRequest):
    code = "invalid_signature"


class CorruptMedia(InvalidRequest):
    code = "corrupt_media"


class MediaWorkerCrashed(CorruptMedia):
    """The process decoding or analysing the media died of something other than a limit (a signal, an exit status):
    the media, or a library reading it, is broken; `details` say how it died, the server's log has the rest."""

    code = "worker_crashed"


class MediaTooExpensive(RegistryError):
    """Processing the media went over a CPU-time, memory or wall-clock limit; `details` name the limit."""

    code = "too_expensive"


class UnsupportedMedia(RegistryError):
    code = "unsupported_media"


class MediaTooLarge(RegistryError):
    code = "too_large"


class Unauthenticated(RegistryError):
    code = "unauthenticated"


class Forbidden(RegistryError):
    """Authenticated, but not allowed: unverified or expired publisher, retired key, someone else's resource."""

    code = "forbidden"


class NotFound(RegistryError):
    code = "not_found"


class Conflict(RegistryError):
    code = "conflict"


class NonceReused(Conflict):
    code = "nonce_reused"


class AlreadyRegistered(Conflict):
    """The publisher registered these exact bytes before; `details['registration_id']` names that entry."""

    code = "already_registered"


class NotReady(RegistryError):
    """The service is starting (index still loading); retry shortly."""

    code = "not_ready"


class Overloaded(RegistryError):
    """Every media worker is busy and the queue for them is full; retry shortly."""

    code = "overloaded"


class ClientOverloaded(Overloaded):
    """This client already has as many media requests or tasks in flight as one client may (429, not 503: the
    others' share stays theirs); retry once some are answered."""

    code = "too_many_media_requests"


class WorkerKilled(Overloaded):
    """A media worker was killed from outside the server (SIGKILL, most often the system's out-of-memory killer)."""

    code = "worker_killed"


class ClientGone(RegistryError):
    """The caller went away (the HTTP client disconnected), so its work was stopped; nobody reads this answer."""

    code = "client_gone"


class LogTampered(RegistryError):
    """The stored log fails its audit: writes are refused until an operator has looked."""

    code = "log_tampered"


class VerificationFailed(RegistryError):
    """A receipt, proof or checkpoint does not verify; `message` says which check failed."""

    code = "verification_failed"


class ConfigurationError(RegistryError):
    """Settings are missing or unsafe; raised at start-up, before anything is served."""

    code = "configuration"
