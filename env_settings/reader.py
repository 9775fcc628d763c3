"""Each reader takes the environment and a variable's name; an unset or empty variable gives the
default, a malformed one raises SettingError with a one-line message that names it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

Environment = Mapping[str, str]
Choice = TypeVar("Choice", bound=StrEnum)


class SettingError(Exception):
    """A setting that is missing or malformed. Nothing runs on a guess: the caller stops and
    reports this one line."""


def required(env: Environment, name: str) -> str:
    value = env.get(name)
    if not value:
        raise SettingError(f"{name} is not set")
    return value


def whole_number(env: Environment, name: str, default: int) -> int:
    value = env.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SettingError(f"{name}={value!r} is not a whole number") from None


def number(env: Environment, name: str, default: float) -> float:
    value = env.get(name)
    if not value:
        return default
    try:
        parsed = float(value)
        if math.isfinite(parsed):
            return parsed
    except ValueError:
        pass
    raise SettingError(f"{name}={value!r} is not a number")


def one_of(env: Environment, name: str, default: Choice) -> Choice:
    """A member of `default`'s enum, by its value."""
    value = env.get(name)
    if not value:
        return default
    choices = type(default)
    try:
        return choices(value)
    except ValueError:
        raise SettingError(f"{name}={value!r} is not one of {', '.join(choices)}") from None
