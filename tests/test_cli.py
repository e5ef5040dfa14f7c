"""``librarycache serve`` refuses an open server beyond loopback; settings come from the env."""

from __future__ import annotations

import logging
import socket
import sys
import typing
from pathlib import Path

import pytest
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from server import cli
from server._flags import flags
from server.settings import Settings
from tests.serve_process import free_port

ANY_INTERFACE = "0.0.0.0"  # noqa: S104 - the address under test; nothing binds to it here


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean ``LIBRARYCACHE_*`` environment, restored afterwards.

    ``serve`` writes its flags to the environment for its workers; setting each variable
    here first makes the monkeypatch restore them.
    """
    for flag in flags():
        monkeypatch.setenv(flag.variable, "")
        monkeypatch.delenv(flag.variable)
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:9")  # no embedded store started
    monkeypatch.setenv("LIBRARYCACHE_PORT", str(free_port()))  # 8000 may be someone's
    # The process-wide logging setup would outlive the test (and hide records from caplog).
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)
    return monkeypatch


@pytest.fixture
def uvicorn_runs(env: pytest.MonkeyPatch) -> list[Settings]:
    """Records the settings ``serve`` would start uvicorn with, instead of starting it."""
    runs: list[Settings] = []
    env.setattr(cli, "_run_uvicorn", lambda settings, _log_format: runs.append(settings))
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


def test_production_refuses_to_start_without_mongodb(
    uvicorn_runs: list[Settings], env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A forgotten MONGODB_URI would give each replica an embedded store of its own."""
    env.setenv("LIBRARYCACHE_ENV", "production")
    env.setenv("LIBRARYCACHE_JWT_SECRET", "s" * 32)
    env.delenv("MONGODB_URI")

    assert cli.main(["serve"]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "MONGODB_URI must be set when LIBRARYCACHE_ENV=production" in err
    assert uvicorn_runs == []

    env.setenv("MONGODB_URI", "mongodb://db.internal:27017")
    assert cli.main(["serve"]) == cli.EXIT_OK
    assert [s.mongodb_uri for s in uvicorn_runs] == ["mongodb://db.internal:27017"]


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


# ------------------------------------------------------------------ every setting is a flag


def _sample(name: str, field: FieldInfo, tmp_path: Path) -> tuple[list[str], object]:
    """Arguments giving the setting a value other than its default, and that value."""
    special: dict[str, tuple[str, object]] = {
        "mongodb_uri": ("mongodb://127.0.0.1:9/", "mongodb://127.0.0.1:9/"),
        "host": ("localhost", "localhost"),
        "port": (str(port := free_port()), port),
        "jwt_secret": ("s" * 40, "s" * 40),
    }
    flag = "--" + name.replace("_", "-")
    if name in special:
        text, value = special[name]
        return [flag, text], value
    default = field.get_default(call_default_factory=True)
    kinds = typing.get_args(field.annotation) or (field.annotation,)
    if bool in kinds:
        return ([f"--no-{flag[2:]}"], False) if default in (True, None) else ([flag], True)
    if Path in kinds:
        return [flag, str(tmp_path / name)], tmp_path / name
    if isinstance(default, int | float):
        value = default * 2 if default else 1
        return [flag, str(value)], value
    if isinstance(default, list):
        return [flag, "a,b"], ["a", "b"]
    literal = [
        choice
        for kind in kinds
        for choice in (typing.get_args(kind) or (kind,))
        if isinstance(choice, str) and choice != default
    ]
    if literal:
        return [flag, literal[0]], literal[0]
    return [flag, "a-value"], "a-value"


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_is_a_flag(uvicorn_runs: list[Settings], tmp_path: Path, name: str) -> None:
    field = Settings.model_fields[name]
    arguments, expected = _sample(name, field, tmp_path)

    assert cli.main(["serve", *arguments]) == cli.EXIT_OK

    (settings,) = uvicorn_runs
    value = getattr(settings, name)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    assert value == expected
    assert expected != field.get_default(call_default_factory=True)


def test_help_lists_every_setting_with_its_variable_and_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())

    for flag in flags():
        assert flag.option in text
        assert flag.variable in text
    assert "[LIBRARYCACHE_MAX_DEPTH; default: 12]" in text
    assert "[MONGODB_URI; default: unset]" in text


def test_a_busy_port_is_a_plain_message_and_exit_2(
    uvicorn_runs: list[Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        code = cli.main(["serve", "--port", str(port)])

    assert code == cli.EXIT_CONFIG
    assert capsys.readouterr().err == (
        f"librarycache: port {port} on 127.0.0.1 is in use (address already in use): "
        "stop what holds it (another librarycache serve?) or pass --port\n"
    )
    assert uvicorn_runs == []


def test_the_start_up_line_gives_the_graphql_url(
    uvicorn_runs: list[Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="librarycache")
    port = free_port()

    assert cli.main(["serve", "--port", str(port)]) == cli.EXIT_OK

    assert f"serving GraphQL at http://127.0.0.1:{port}/graphql (GraphiQL" in caplog.text


@pytest.mark.parametrize(
    ("setting", "tty", "expected"),
    [(None, True, "text"), (None, False, "json"), ("json", True, "json"), ("text", False, "text")],
)
def test_logs_are_text_on_a_terminal_and_json_otherwise_unless_set(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, tty: bool, expected: str
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    settings = Settings.model_validate({"log_format": setting})

    assert cli._log_format(settings) == expected
