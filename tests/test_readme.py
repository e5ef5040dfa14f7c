"""The README's configuration table and quickstart stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _documented_variables() -> set[str]:
    return set(re.findall(r"^\| `([A-Z_]+)` \|", README, flags=re.MULTILINE))


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
