"""``serve``'s flags, derived from ``Settings``: one per setting, none written by hand.

A flag given on the command line is passed on as its environment variable, so that the
server processes (uvicorn's workers) build the very same ``Settings`` from the environment.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from server.settings import Settings

_RST_LITERAL = re.compile(r"``([^`]*)``")


@dataclass(frozen=True)
class Flag:
    setting: str
    """The field of ``Settings``."""
    option: str
    """``--max-depth``"""
    variable: str
    """``LIBRARYCACHE_MAX_DEPTH``"""
    boolean: bool

    @property
    def dest(self) -> str:
        return self.setting


def flags() -> Iterator[Flag]:
    for name, field in Settings.model_fields.items():
        yield Flag(
            setting=name,
            option="--" + name.replace("_", "-"),
            variable=_variable(name, field),
            boolean=bool in (field.annotation, *get_args(field.annotation)),
        )


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "settings", "each flag sets its environment variable, which is read when it is not given"
    )
    for flag in flags():
        field = Settings.model_fields[flag.setting]
        help_text = f"{_describe(field)}[{flag.variable}; default: {_default(field)}]"
        if flag.boolean:
            group.add_argument(
                flag.option,
                dest=flag.dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            number: Callable[[str], object] = str
            if field.annotation is int:
                number = int
            elif field.annotation is float:
                number = float
            # Numbers parsed here too, so that a caller of the parser gets numbers.
            group.add_argument(
                flag.option, dest=flag.dest, metavar=_metavar(field), help=help_text, type=number
            )


def export_given_flags(args: argparse.Namespace) -> None:
    """Set the variable of every flag that was given; the rest come from the environment."""
    for flag in flags():
        value = getattr(args, flag.dest, None)
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        os.environ[flag.variable] = str(value)


def _variable(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{Settings.model_config.get('env_prefix', '')}{name}".upper()


def _describe(field: FieldInfo) -> str:
    text = " ".join((field.description or "").split())
    text = _RST_LITERAL.sub(r"\1", text).replace("%", "%%")
    return f"{text} " if text else ""


def _default(field: FieldInfo) -> str:
    value: Any = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "set"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(map(str, value)) or "none"
    if isinstance(value, Path):
        return str(value)
    return str(value).replace("%", "%%")


def _metavar(field: FieldInfo) -> str:
    kinds = {int: "N", float: "SECONDS", Path: "DIR"}
    annotation = field.annotation
    for kind, metavar in kinds.items():
        if annotation is kind or kind in get_args(annotation):
            return metavar
    choices = [a for a in _flatten(annotation) if isinstance(a, str)]
    return "{" + ",".join(choices) + "}" if choices else "VALUE"


def _flatten(annotation: object) -> Iterator[object]:
    """``Literal["a", "b"] | None`` -> "a", "b", NoneType."""
    args = get_args(annotation)
    if not args:
        yield annotation
    for arg in args:
        yield from _flatten(arg)
