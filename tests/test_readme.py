"""The README's configuration table and quickstart stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from persistence.errors import LibraryCacheError
from resolvers import errors
from resolvers.access import Forbidden, Unauthenticated
from server import limits
from server.app import create_app
from server.cost import COST_LIMIT_EXCEEDED
from server.http_errors import _CODE_BY_STATUS
from server.overload import OVERLOADED
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _documented_variables() -> set[str]:
    # Only the variables: the error table's rows start with a code in the same way.
    names = re.findall(r"^\| `([A-Z_]+)` \|", README, flags=re.MULTILINE)
    return {name for name in names if name.startswith("LIBRARYCACHE_") or name == "MONGODB_URI"}


def test_every_setting_is_in_the_configuration_table() -> None:
    expected = {"MONGODB_URI"} | {
        f"LIBRARYCACHE_{name.upper()}" for name in Settings.model_fields if name != "mongodb_uri"
    }
    assert _documented_variables() == expected


def test_quickstart_commands_exist() -> None:
    for command in re.findall(r"^(scripts/\w+) ", README, flags=re.MULTILINE):
        path = ROOT / command
        assert path.is_file(), command
        assert path.stat().st_mode & 0o111, f"{command} is not executable"


def test_ci_runs_the_readme_test_command() -> None:
    assert "\nscripts/test\n" in (ROOT / ".ci" / "run").read_text()


async def test_graphiql_examples_run(wire_uri: str, db_name: str) -> None:
    """The README's GraphQL examples, in order, against the app: no errors, real data."""
    examples = re.findall(r"```graphql\n(.*?)```", README, flags=re.DOTALL)
    assert len(examples) >= 3
    app = create_app(Settings(mongodb_uri=wire_uri, db=db_name))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for example in examples:
                body = (await client.post("/graphql", json={"query": example})).json()
                assert "errors" not in body, (example, body["errors"])
            # The deprecated root field answers as it always has, with the synced list.
            liked = '{ liked(userId: "user:alice") { trackIds } }'
            body = (await client.post("/graphql", json={"query": liked})).json()
            assert body["data"]["liked"]["trackIds"] == ["track:3", "track:2", "track:1"]
            # The id in the README's node example is the one the server issues.
            library = '{ library(userId: "user:alice") { id } }'
            body = (await client.post("/graphql", json={"query": library})).json()
            assert f'node(id: "{body["data"]["library"]["id"]}")' in README


def _subclasses(kind: type) -> list[type]:
    return [kind, *(s for sub in kind.__subclasses__() for s in _subclasses(sub))]


def test_the_error_table_lists_every_code_the_server_gives() -> None:
    produced = {
        *(error.code for error in _subclasses(LibraryCacheError)),
        Unauthenticated.code,
        Forbidden.code,
        *_CODE_BY_STATUS.values(),
        errors.PARSE_FAILED,
        errors.VALIDATION_FAILED,
        errors.BAD_USER_INPUT,
        errors.INTERNAL,
        limits.TIMEOUT,
        COST_LIMIT_EXCEEDED,
        OVERLOADED,
    }
    table = README.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.MULTILINE))

    assert documented == produced
