"""MiniStack's event source mapping poller stays off: `emulator.esm` runs the mappings, with
AWS's semantics, in the data-plane process."""

from __future__ import annotations

from typing import Any

from emulator.ministack.registry import Originals, Patch, Target

ENSURE_POLLER = Target("ministack.services.lambda_svc", "_ensure_poller")


def _poller_off(originals: Originals) -> dict[Target, Any]:
    return {ENSURE_POLLER: _poller_not_started}


def _poller_not_started() -> None:
    """MiniStack starts its poller here when a mapping is created or restored."""


POLLER_OFF = Patch(
    name="lambda-esm-poller-off",
    summary="MiniStack's event source mapping poller never starts; emulator.esm runs the mappings",
    targets={ENSURE_POLLER: "a21371869881be447e10118dc54b4aac8bef2366fce65c3a6c766630f43bb263"},
    build=_poller_off,
)
