"""Which state folder an embedded emulator belongs to: a random id created once in the folder.

The API process serves it at GET /_emulator/identity; the bootstrap compares it with its own
state folder's before it deploys, tears down or reports, so a second stack on the machine never
acts on the first one's emulator.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

IDENTITY_PATH = "/_emulator/identity"
_FILE_NAME = "identity"


@dataclass(frozen=True)
class StateIdentity:
    identity: str
    state_dir: str

    def document(self) -> dict[str, str]:
        return {"identity": self.identity, "state_dir": self.state_dir}


def identity_file(state_dir: str) -> Path:
    return Path(state_dir) / _FILE_NAME


def read_identity(state_dir: str) -> StateIdentity | None:
    """The folder's identity, or None when no emulator has run from it yet."""
    try:
        identity = identity_file(state_dir).read_text().strip()
    except OSError:
        return None
    return StateIdentity(identity, str(Path(state_dir).resolve())) if identity else None


def ensure_identity(state_dir: str) -> StateIdentity:
    """The folder's identity, created on first use. Linked into place whole, so two processes
    starting at once agree on one id and neither reads a half-written file."""
    existing = read_identity(state_dir)
    if existing:
        return existing
    path = identity_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = uuid.uuid4().hex
    draft = path.with_name(f".{_FILE_NAME}.{candidate}")
    draft.write_text(candidate + "\n")
    try:
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink()
    return StateIdentity(path.read_text().strip(), str(Path(state_dir).resolve()))
