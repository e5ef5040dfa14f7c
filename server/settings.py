"""Typed settings, read from the environment once (``Settings.from_env()``) and passed in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from persistence.client import Driver
from persistence.feed import FeedMode
from persistence.models import Limits
from persistence.store import StoreOptions

MiB = 1024 * 1024
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "x-request-id",
    # Apollo Client's CSRF-prevention header and its operation-name header
    "apollo-require-preflight",
    "x-apollo-operation-name",
    # W3C trace context, sent by browser OpenTelemetry instrumentation
    "traceparent",
    "tracestate",
)


class Settings(BaseSettings):
    """Every setting has an environment variable ``LIBRARYCACHE_<NAME>`` (see README)."""

    model_config = SettingsConfigDict(
        env_prefix="LIBRARYCACHE_",
        frozen=True,
        extra="forbid",
        # The docstrings below are the help of ``serve``'s flags (server._flags).
        use_attribute_docstrings=True,
    )

    # store
    mongodb_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MONGODB_URI", "mongodb_uri")
    )
    """A MongoDB 6+ deployment. Unset: an embedded nx-27017 server under ``data_dir`` (the
    ``embedded`` extra; refused in production)."""
    db: str = "librarycache"
    """The database name."""
    data_dir: Path = Path(".librarycache")
    """The embedded store's data, pid and log files."""
    driver: Driver = "pymongo"
    """``pymongo`` (PyMongo's ``AsyncMongoClient``) or ``motor``."""
    store_timeout_ms: int = Field(default=5000, ge=100)
    """Server selection and connect timeout of the store client."""
    lease_seconds: float = Field(default=120.0, gt=0)
    """How long a sync may stall before another may take over."""
    write_batch: int = Field(default=1000, ge=1, le=100_000)
    """Documents per write command."""
    feed: FeedMode = "auto"
    """How subscriptions learn of commits: MongoDB change streams, or polling (auto: change
    streams where the deployment offers them)."""
    feed_poll_seconds: float = Field(default=1.0, ge=0.05, le=60)
    """The polling feed's interval: one query per interval per server process."""

    # HTTP
    host: str = "127.0.0.1"
    """Interface to listen on."""
    port: int = Field(default=8000, ge=0, le=65535)
    """Port to listen on."""
    workers: int = Field(default=1, ge=1)
    """Worker processes."""
    env: Literal["development", "production"] = "development"
    """``production`` turns GraphiQL, introspection and field suggestions off."""
    max_body_bytes: int = Field(default=32 * MiB, ge=1024)
    """Larger request bodies get 413 PAYLOAD_TOO_LARGE."""
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    """Time to send the whole request body, from the end of its headers."""
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    """Request line and headers together."""
    max_headers: int = Field(default=100, ge=10)
    """Headers per request; more get 431."""
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    """Time to send a request's headers, from its first byte or the connection's opening."""
    keep_alive_seconds: int = Field(default=5, ge=1)
    """An idle keep-alive connection is closed after this long."""
    max_in_flight: int = Field(default=64, ge=1)
    """HTTP requests a worker handles at once; more get 503 OVERLOADED with Retry-After at
    once (health checks and metrics excepted)."""
    release_memory_after_bytes: int = Field(default=256 * 1024, ge=0)
    """After answering a request with a larger body (an ingest or a sync of more than a few
    hundred items), collect garbage and hand freed heap pages back to the system; 0: off."""
    max_connections: int = Field(default=1000, ge=2)
    """Open connections per worker, the asking one included; beyond, requests get 503 at once."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Comma-separated in the environment: ``https://app.example,https://admin.example``."""
    cors_allow_headers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(CORS_ALLOW_HEADERS)
    )
    """Request headers a page on an allowed origin may send, comma-separated."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level logged."""
    log_format: Literal["json", "text"] | None = None
    """``json``: one object per line; ``text``: readable lines. Unset: text on a terminal."""
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
    """Maximum query depth."""
    max_aliases: int = Field(default=30, ge=1)
    """Maximum aliases per document."""
    max_tokens: int = Field(default=2000, ge=10)
    """Maximum tokens per document."""
    max_document_chars: int = Field(default=100_000, ge=100)
    """Characters per GraphQL document, comments and string literals included."""
    max_page_size: int = Field(default=500, ge=1)
    """The largest ``first``."""
    max_cost: int = Field(default=20_000, ge=100)
    """What one request's operations may build, counted before they run (see README)."""
    max_batch: int = Field(default=10, ge=0)
    """Operations per batched (array) request; 0 turns batching off."""
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    """A query running longer is cancelled (TIMEOUT)."""
    sync_timeout_seconds: float = Field(default=600.0, gt=0)
    """A mutation running longer is cancelled; also the graceful-shutdown wait."""

    # payload item limits
    max_tracks: int = Field(default=Limits.tracks, ge=1)
    """Tracks per payload."""
    max_likes: int = Field(default=Limits.likes, ge=1)
    """Likes per payload."""
    max_plays: int = Field(default=Limits.plays, ge=1)
    """Plays per payload."""
    max_playlists: int = Field(default=Limits.playlists, ge=1)
    """Playlists per payload."""
    max_playlist_entries: int = Field(default=Limits.entries_per_playlist, ge=1, le=200_000)
    """Entries per playlist (a playlist is one document, under 16 MiB)."""

    # auth
    jwt_secret: SecretStr | None = None
    """HS256 secret; set, every request needs a bearer token. Prefer the variable: a flag shows
    in the process list."""
    jwt_audience: str | None = None
    """The ``aud`` required when set."""
    jwt_issuer: str | None = None
    """The ``iss`` required when set."""

    @field_validator("cors_origins", "cors_allow_headers", mode="before")
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

    @field_validator("jwt_secret")
    @classmethod
    def _no_empty_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Set but empty would read as "auth on" in one place and "no secret" in another.
        if value is not None and not value.get_secret_value().strip():
            raise ValueError(
                "LIBRARYCACHE_JWT_SECRET is set but empty: set a secret (32+ characters), "
                "or unset the variable to turn authentication off"
            )
        return value

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
