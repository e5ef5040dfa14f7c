"""Dockerfile, .dockerignore and compose.yaml agree with the CLI, the settings and the routes.

Docker cannot run on these machines, so what can be checked without it is checked here: the
compose file parses, its command is one the CLI accepts, every variable it sets is a setting
with a valid value, and the image runs as a non-root user with a health check on a real route.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from server.app import create_app
from server.cli import _parser
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SECRET = "x" * 40  # stands in for ${LIBRARYCACHE_JWT_SECRET:?...}


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _last(keyword: str) -> str:
    return [rest for k, rest in _instructions() if k == keyword][-1]


def _exec_form(arguments: str) -> list[str]:
    argv = json.loads(arguments)
    assert isinstance(argv, list), f"use the exec form (a JSON array): {arguments}"
    return [str(a) for a in argv]


def _serve_args(argv: list[str]) -> dict[str, Any]:
    """Parse a ``librarycache serve ...`` command with the CLI's own parser."""
    assert argv[0] == "librarycache"
    parsed = vars(_parser().parse_args(argv[1:]))  # exits (SystemExit) on an unknown flag
    assert parsed["command"] == "serve"
    return parsed


def _interpolate(value: str) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, with test values."""
    known = {"LIBRARYCACHE_JWT_SECRET": SECRET}

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3) or ""
        return known.get(name, default if match.group(2) == ":-" else "")

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", replace, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return parsed


@pytest.fixture(scope="module")
def app_service(compose: dict[str, Any]) -> dict[str, Any]:
    service: dict[str, Any] = compose["services"]["app"]
    return service


def test_compose_runs_the_app_after_a_healthy_mongodb(compose: dict[str, Any]) -> None:
    mongo = compose["services"]["mongo"]
    assert mongo["image"] == "mongo:8"
    check = " ".join(mongo["healthcheck"]["test"])
    assert check.startswith("CMD mongosh")
    assert "ping" in check
    assert "mongo-data" in compose["volumes"]
    app = compose["services"]["app"]
    assert app["build"] == "."
    assert app["depends_on"] == {"mongo": {"condition": "service_healthy"}}


def test_compose_command_is_one_the_cli_accepts(app_service: dict[str, Any]) -> None:
    command = app_service["command"]
    argv = command if isinstance(command, list) else shlex.split(command)
    args = _serve_args(argv)
    assert args["host"] == "0.0.0.0"  # noqa: S104 - inside the container, on purpose
    container_ports = {int(str(p).rsplit(":", 1)[-1]) for p in app_service["ports"]}
    assert container_ports == {args["port"]}  # "127.0.0.1:8000:8000": host ip, host, container
    assert not args["insecure_open"]  # production runs with authentication on


def test_compose_sets_only_real_settings_with_valid_values(
    app_service: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    environment: dict[str, Any] = app_service["environment"]
    known = {"MONGODB_URI"} | {f"LIBRARYCACHE_{name.upper()}" for name in Settings.model_fields}
    assert set(environment) <= known, set(environment) - known
    assert "LIBRARYCACHE_JWT_SECRET" in environment
    assert ":?" in environment["LIBRARYCACHE_JWT_SECRET"]  # compose refuses to start without it
    assert urlsplit(environment["MONGODB_URI"]).hostname == "mongo"

    for name in list(os.environ):
        if name.startswith("LIBRARYCACHE_") or name == "MONGODB_URI":
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, _interpolate(str(value)))
    settings = Settings.from_env()  # raises if a value is not valid for its setting
    assert settings.production
    assert settings.jwt_secret is not None


def test_compose_waits_longer_than_the_graceful_shutdown(app_service: dict[str, Any]) -> None:
    grace = re.fullmatch(r"(\d+)s", app_service["stop_grace_period"])
    assert grace is not None
    sync_timeout = float(app_service["environment"]["LIBRARYCACHE_SYNC_TIMEOUT_SECONDS"])
    assert int(grace.group(1)) > sync_timeout + 5  # server.cli._SHUTDOWN_MARGIN_SECONDS


def test_image_is_slim_multi_stage_and_runs_the_cli() -> None:
    bases = [rest.split()[0] for k, rest in _instructions() if k == "FROM"]
    assert bases == ["python:3.11-slim", "python:3.11-slim"]
    assert any(k == "RUN" and "pip install ." in rest for k, rest in _instructions())
    args = _serve_args(_exec_form(_last("CMD")))
    assert args["host"] == "0.0.0.0"  # noqa: S104 - inside the container, on purpose
    assert _last("EXPOSE") == str(args["port"])


def test_image_runs_as_a_non_root_user() -> None:
    user = _last("USER").split(":")[0]
    assert user not in ("root", "0")
    assert user.isdigit(), "a numeric uid lets runtimes verify runAsNonRoot"


def test_healthcheck_asks_a_real_route_on_the_served_port() -> None:
    healthcheck = _last("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert "--interval=" in options
    argv = _exec_form(command)
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "<healthcheck>", "exec")  # the one-liner is valid Python
    (url,) = re.findall(r"'(http://[^']+)'", argv[2])
    port = _serve_args(_exec_form(_last("CMD")))["port"]
    assert urlsplit(url).port == port
    routes = {getattr(route, "path", None) for route in create_app(Settings()).routes}
    assert urlsplit(url).path in routes
    assert urlsplit(url).path == "/healthz"  # liveness: not the store's readiness


def _ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics, enough for our file: the last matching pattern wins."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, f"{pattern}/*"):
            ignored = not negate
    return ignored


def test_what_the_image_copies_exists_and_is_not_ignored() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.startswith("#")]
    sources = [
        source
        for keyword, rest in _instructions()
        if keyword == "COPY" and not rest.startswith("--from")
        for source in rest.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        inside = f"{source}/__init__.py" if (ROOT / source).is_dir() else source
        assert not _ignored(inside, patterns), f"{inside} is excluded by .dockerignore"
    for unwanted in (".git/HEAD", ".venv/bin/python", "codegen/node_modules/x", "tests/x.py"):
        assert _ignored(unwanted, patterns), f"{unwanted} would be sent to the build"


def test_the_embedded_store_is_an_extra_the_production_image_leaves_out() -> None:
    """Production runs on MongoDB: nx-27017 is installed by scripts/install (dev and
    --runtime-only, which scripts/serve uses), never by the image."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("nx-27017") for d in project["dependencies"])
    assert any(d.startswith("nx-27017") for d in project["optional-dependencies"]["embedded"])
    assert any(d.startswith("nx-27017") for d in project["optional-dependencies"]["dev"])
    installs = [rest for k, rest in _instructions() if k == "RUN" and "pip install" in rest]
    assert installs
    assert not any("embedded" in rest or "[" in rest for rest in installs)
    install = (ROOT / "scripts" / "install").read_text()
    assert "-e '.[embedded]'" in install
    assert "scripts/install --runtime-only" in (ROOT / "scripts" / "serve").read_text()
