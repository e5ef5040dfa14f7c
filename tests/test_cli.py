"""``librarycache serve`` refuses an open server beyond loopback; settings come from the env."""

from __future__ import annotations

import pytest

from server import cli
from server.settings import Settings

ANY_INTERFACE = "0.0.0.0"  # noqa: S104 - the address under test; nothing binds to it here


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean ``LIBRARYCACHE_*`` environment, restored afterwards.

    ``serve`` writes its flags to the environment for its workers; setting each variable
    here first makes the monkeypatch restore them.
    """
    for name in ("HOST", "PORT", "DATA_DIR", "WORKERS", "JWT_SECRET"):
        monkeypatch.setenv(f"LIBRARYCACHE_{name}", "")
        monkeypatch.delenv(f"LIBRARYCACHE_{name}")
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:9")  # no embedded store started
    # The process-wide logging setup would outlive the test (and hide records from caplog).
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)
    return monkeypatch


@pytest.fixture
def uvicorn_runs(env: pytest.MonkeyPatch) -> list[Settings]:
    """Records the settings ``serve`` would start uvicorn with, instead of starting it."""
    runs: list[Settings] = []
    env.setattr(cli, "_run_uvicorn", runs.append)
    return runs


@pytest.mark.parametrize("host", [ANY_INTERFACE, "::", "192.168.1.20", "example.com"])
def test_serve_refuses_to_listen_beyond_loopback_without_a_secret(
    uvicorn_runs: list[Settings], capsys: pytest.CaptureFixture[str], host: str
) -> None:
    code = cli.main(["serve", "--host", host])

    err = capsys.readouterr().err
    assert code == cli.EXIT_CONFIG
    assert err.startswith(f"librarycache: refusing to listen on {host} with authentication off")
    assert "LIBRARYCACHE_JWT_SECRET" in err
    assert "--insecure-open" in err
    assert uvicorn_runs == []


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_serve_listens_on_loopback_without_a_secret(
    uvicorn_runs: list[Settings], host: str
) -> None:
    # The warning that authentication is off comes from the app's start-up, once per
    # worker (tests/http/test_auth.py), not from the CLI.
    assert cli.main(["serve", "--host", host]) == cli.EXIT_OK
    assert [s.host for s in uvicorn_runs] == [host]


def test_serve_listens_anywhere_with_a_secret(
    uvicorn_runs: list[Settings], env: pytest.MonkeyPatch
) -> None:
    env.setenv("LIBRARYCACHE_JWT_SECRET", "s" * 32)

    assert cli.main(["serve", "--host", ANY_INTERFACE]) == cli.EXIT_OK
    assert [s.host for s in uvicorn_runs] == [ANY_INTERFACE]


def test_insecure_open_is_an_explicit_choice(uvicorn_runs: list[Settings]) -> None:
    assert cli.main(["serve", "--host", ANY_INTERFACE, "--insecure-open"]) == cli.EXIT_OK
    assert [s.jwt_secret for s in uvicorn_runs] == [None]


def test_production_refuses_a_short_secret(
    uvicorn_runs: list[Settings], env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("LIBRARYCACHE_ENV", "production")
    env.setenv("LIBRARYCACHE_JWT_SECRET", "too-short")

    assert cli.main(["serve"]) == cli.EXIT_CONFIG
    assert "at least 32 characters in production" in capsys.readouterr().err
    assert uvicorn_runs == []


AUTH_AND_LIMITS = {
    "LIBRARYCACHE_JWT_SECRET": "s" * 40,
    "LIBRARYCACHE_JWT_AUDIENCE": "librarycache",
    "LIBRARYCACHE_JWT_ISSUER": "https://auth.example",
    "LIBRARYCACHE_ENV": "production",
    "LIBRARYCACHE_GRAPHIQL": "true",
    "LIBRARYCACHE_INTROSPECTION": "true",
    "LIBRARYCACHE_MAX_DEPTH": "7",
    "LIBRARYCACHE_MAX_ALIASES": "9",
    "LIBRARYCACHE_MAX_TOKENS": "1234",
    "LIBRARYCACHE_MAX_PAGE_SIZE": "50",
    "LIBRARYCACHE_MAX_BATCH": "0",
    "LIBRARYCACHE_MAX_BODY_BYTES": "4096",
    "LIBRARYCACHE_REQUEST_TIMEOUT_SECONDS": "2.5",
    "LIBRARYCACHE_SYNC_TIMEOUT_SECONDS": "90",
    "LIBRARYCACHE_CORS_ORIGINS": '["https://app.example", "https://admin.example"]',
}


def test_settings_honour_every_auth_and_limit_variable(env: pytest.MonkeyPatch) -> None:
    for name, value in AUTH_AND_LIMITS.items():
        env.setenv(name, value)

    settings = Settings.from_env()

    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == "s" * 40
    assert (settings.jwt_audience, settings.jwt_issuer) == ("librarycache", "https://auth.example")
    assert settings.production
    assert settings.graphiql_enabled
    assert settings.introspection_enabled
    assert (settings.max_depth, settings.max_aliases, settings.max_tokens) == (7, 9, 1234)
    assert (settings.max_page_size, settings.max_batch, settings.max_body_bytes) == (50, 0, 4096)
    assert (settings.request_timeout_seconds, settings.sync_timeout_seconds) == (2.5, 90.0)
    assert settings.cors_origins == ["https://app.example", "https://admin.example"]


def test_production_turns_graphiql_and_introspection_off_by_default(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("LIBRARYCACHE_ENV", "production")

    settings = Settings.from_env()

    assert not settings.graphiql_enabled
    assert not settings.introspection_enabled
    assert Settings.from_env().cors_origins == []


@pytest.mark.parametrize("secret", ["", "   "])
def test_an_empty_secret_is_refused_at_start_up(
    uvicorn_runs: list[Settings],
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    secret: str,
) -> None:
    """Set but empty is neither "auth on" nor "auth off": the operator is told to choose."""
    env.setenv("LIBRARYCACHE_JWT_SECRET", secret)

    assert cli.main(["serve"]) == cli.EXIT_CONFIG
    assert "LIBRARYCACHE_JWT_SECRET is set but empty" in capsys.readouterr().err
    assert uvicorn_runs == []
