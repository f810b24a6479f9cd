"""Configuration from `PROVREG_*` environment variables (or a `.env` file), with safe defaults for development.

Production mode fails closed: it refuses to start without an admin token of real strength.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from registry.errors import ConfigurationError

MIN_ADMIN_TOKEN_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROVREG_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("provreg-data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file registry.sqlite3 in the data directory"
    )
    admin_token: SecretStr | None = None
    log_origin: str | None = Field(
        default=None, description="the log's name in its checkpoints; fixed when the log is created"
    )

    full_audit_interval_hours: float = Field(
        default=24, ge=0, description="how often the server re-audits the whole log; 0: only at start-up if no mark"
    )
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_pixels: int = Field(default=50_000_000, gt=0, description="decode cap, checked from the header")
    match_threshold: int = Field(default=31, ge=0, le=128, description="PDQ distance still called a copy")
    max_matches: int = Field(default=10, gt=0, le=1000)
    statement_max_age_seconds: int = Field(default=600, gt=0, description="how old created_at may be")
    statement_max_skew_seconds: int = Field(default=120, ge=0, description="how far in the future it may be")

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
