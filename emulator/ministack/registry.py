"""The one way the embedded backend changes MiniStack: named patches, checked, listed and undoable.

Modelled on LocalStack's `localstack.utils.patch`: a patch names its targets (module and
attribute), keeps the originals, is listed once applied and can be undone (the tests do). Unlike
LocalStack's, a patch first checks each target: the SHA-256 of its source must be the one
recorded for the MiniStack version pinned in pyproject.toml. An upgrade that changes a patched
function stops the backend with one line naming the patch and the function, instead of running
a replacement on code it was not written for.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.lifecycle import EmulatorError

MINISTACK_VERSION = "1.5.33"


@dataclass(frozen=True)
class Target:
    """A module attribute (`attribute` dotted for a class member), or one entry of a dict attribute."""

    module: str
    attribute: str
    key: str | None = None

    def __str__(self) -> str:
        name = f"{self.module}.{self.attribute}"
        return name if self.key is None else f"{name}[{self.key!r}]"

    def read(self) -> Any:
        owner, name = self._owner()
        value = getattr(owner, name)
        return value if self.key is None else value[self.key]

    def write(self, value: Any) -> None:
        owner, name = self._owner()
        if self.key is None:
            setattr(owner, name, value)
        else:
            getattr(owner, name)[self.key] = value

    def _owner(self) -> tuple[Any, str]:
        *path, name = self.attribute.split(".")
        owner: Any = importlib.import_module(self.module)
        for part in path:
            owner = getattr(owner, part)
        return owner, name


Originals = Mapping[Target, Any]


@dataclass(frozen=True)
class Patch:
    name: str
    summary: str
    # The SHA-256 of each target's source (of the value itself for a string) in MINISTACK_VERSION.
    targets: Mapping[Target, str]
    # The replacement for each target, given the originals.
    build: Callable[[Originals], Mapping[Target, Any]]
    # Code the replacements call or depend on without replacing it, checked by hash the same way.
    relies_on: Mapping[Target, str] = field(default_factory=dict)


class MinistackDiffers(EmulatorError):
    """A patch's target is not the code the patch was written for: the backend must not start."""

    def __init__(self, patch: str, target: Target, detail: str) -> None:
        super().__init__(f"MiniStack differs from {MINISTACK_VERSION} at {target} (patch {patch}): {detail}")
        self.patch = patch
        self.target = target


def source_sha256(value: Any) -> str:
    """Of a function's or class's source, a string's value, a number's repr, or a compiled pattern's pattern."""
    if isinstance(value, int | float):
        value = repr(value)
    if isinstance(value, re.Pattern):
        value = f"re.compile({value.pattern!r}, {value.flags})"
    source = value if isinstance(value, str) else inspect.getsource(value)
    return hashlib.sha256(source.encode()).hexdigest()


def _checked_original(patch: str, target: Target, expected_sha256: str) -> Any:
    """The target's current value, when its source is the one `patch` was written for."""
    try:
        original = target.read()
    except (ImportError, AttributeError, KeyError) as error:
        raise MinistackDiffers(patch, target, f"it is missing ({type(error).__name__}: {error})") from None
    try:
        actual = source_sha256(original)
    except (OSError, TypeError) as error:
        raise MinistackDiffers(patch, target, f"its source cannot be read ({error})") from None
    if actual != expected_sha256:
        raise MinistackDiffers(
            patch,
            target,
            f"its source hash is {actual[:12]}, not {expected_sha256[:12]}; "
            "review the patch against the new code and record the new hash",
        )
    return original


@dataclass(frozen=True)
class AppliedPatch:
    patch: Patch
    originals: Originals


class PatchRegistry:
    def __init__(self) -> None:
        self._applied: list[AppliedPatch] = []

    @property
    def applied(self) -> tuple[AppliedPatch, ...]:
        return tuple(self._applied)

    def apply(self, patch: Patch) -> None:
        """Check every target, then replace them all; raises MinistackDiffers before changing anything."""
        if any(applied.patch.name == patch.name for applied in self._applied):
            raise ValueError(f"patch {patch.name} is already applied")
        for target, sha in patch.relies_on.items():
            _checked_original(patch.name, target, sha)
        originals = {target: _checked_original(patch.name, target, sha) for target, sha in patch.targets.items()}
        replacements = patch.build(originals)
        if replacements.keys() != originals.keys():
            raise ValueError(f"patch {patch.name} must replace exactly its targets")
        for target, replacement in replacements.items():
            target.write(replacement)
        self._applied.append(AppliedPatch(patch, originals))

    def undo(self) -> None:
        """Put every original back, the latest patch first."""
        while self._applied:
            for target, original in self._applied.pop().originals.items():
                target.write(original)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "name": applied.patch.name,
                "summary": applied.patch.summary,
                "targets": [str(t) for t in applied.originals],
            }
            for applied in self._applied
        ]
