"""Typed settings, read from the environment once (``Settings.from_env()``) and passed in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from persistence.client import Driver
from persistence.models import Limits
from persistence.store import StoreOptions

MiB = 1024 * 1024


class Settings(BaseSettings):
    """Every setting has an environment variable ``LIBRARYCACHE_<NAME>`` (see README)."""

    model_config = SettingsConfigDict(env_prefix="LIBRARYCACHE_", frozen=True, extra="forbid")

    # store
    mongodb_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MONGODB_URI", "mongodb_uri")
    )
    """A MongoDB 6+ deployment. Unset: an embedded nx-27017 server under ``data_dir`` (the
    ``embedded`` extra; refused in production)."""
    db: str = "librarycache"
    data_dir: Path = Path(".librarycache")
    driver: Driver = "pymongo"
    store_timeout_ms: int = Field(default=5000, ge=100)
    lease_seconds: float = Field(default=120.0, gt=0)
    write_batch: int = Field(default=1000, ge=1, le=100_000)

    # HTTP
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    env: Literal["development", "production"] = "development"
    max_body_bytes: int = Field(default=32 * MiB, ge=1024)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Comma-separated in the environment: ``https://app.example,https://admin.example``."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    metrics: bool = True
    """Serve Prometheus metrics at ``/metrics`` (keep the port off the internet, or turn off)."""
    metrics_dir: Path | None = None
    """Where every worker writes its metrics for ``/metrics`` to sum (prometheus_client's
    multiprocess mode). ``serve --workers N`` uses a fresh temporary folder when unset."""

    # GraphQL
    graphiql: bool | None = None
    """Default: on in development, off in production."""
    introspection: bool | None = None
    """Default: on in development, off in production."""
    max_depth: int = Field(default=12, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=2000, ge=10)
    max_page_size: int = Field(default=500, ge=1)
    max_batch: int = Field(default=10, ge=0)
    """Operations per batched (array) request; 0 turns batching off."""
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    sync_timeout_seconds: float = Field(default=600.0, gt=0)

    # payload item limits
    max_tracks: int = Field(default=Limits.tracks, ge=1)
    max_likes: int = Field(default=Limits.likes, ge=1)
    max_plays: int = Field(default=Limits.plays, ge=1)
    max_playlists: int = Field(default=Limits.playlists, ge=1)
    max_playlist_entries: int = Field(default=Limits.entries_per_playlist, ge=1, le=200_000)

    # auth
    jwt_secret: SecretStr | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)  # a JSON list is accepted too
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @classmethod
    def from_env(cls) -> Self:
        return cls()

    @model_validator(mode="after")
    def _production_needs_mongodb(self) -> Self:
        # Without it every replica would quietly keep a store of its own on local disk.
        if self.env == "production" and not self.mongodb_uri:
            raise ValueError(
                "MONGODB_URI must be set when LIBRARYCACHE_ENV=production: the embedded "
                "store is for development and single-machine use only"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Self:
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else None
        if self.env == "production" and secret is not None and len(secret) < 32:
            raise ValueError("LIBRARYCACHE_JWT_SECRET must be at least 32 characters in production")
        return self

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.production

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.production

    @property
    def limits(self) -> Limits:
        return Limits(
            tracks=self.max_tracks,
            likes=self.max_likes,
            plays=self.max_plays,
            playlists=self.max_playlists,
            entries_per_playlist=self.max_playlist_entries,
        )

    @property
    def store_options(self) -> StoreOptions:
        return StoreOptions(
            lease_seconds=self.lease_seconds,
            write_batch=self.write_batch,
            first_contact_seconds=self.store_timeout_ms / 1000,
        )
