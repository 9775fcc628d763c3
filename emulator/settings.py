"""The embedded backend's settings, from the environment, with their defaults.

| variable            | default      | meaning                                                  |
|---------------------|--------------|----------------------------------------------------------|
| EMULATOR_PORT       | 4566         | port of the AWS API on 127.0.0.1 (LocalStack's port)     |
| AWS_DEFAULT_REGION  | us-east-1    | the region the emulator reports                          |
| STATE_DIR           | .state       | local state; the embedded backend keeps it in `embedded/`|
| TTL_SWEEP_SECONDS   | 1            | how often expired items are deleted                      |
| EMULATOR_LOG_LEVEL  | WARNING      | log level of the emulator processes                      |
| EXTRA_CORS_ALLOWED_ORIGINS | (none) | comma-separated origins that browsers may call from besides loopback |
| EMULATOR_JOURNAL    | on           | `on`, `fsync` or `off`: see below                        |
| EMULATOR_JOURNAL_RESERVE_MB | 64   | disk kept reserved for the journal; writes get 503 without it |
| EMULATOR_CHECKPOINT_MB | 256       | snapshot, and a fresh journal, past this journal size    |
| EMULATOR_CHECKPOINT_SECONDS | 600  | ... or when the journal is this old and not empty        |

EMULATOR_JOURNAL: `on` journals every change with write() before its answer, which survives a
kill -9 of the API process; `fsync` also fdatasyncs each write, which survives a power cut and
costs about 0.5 ms per request here; `off` keeps MiniStack's behaviour, where a crash loses everything
since the last clean stop.

A malformed value raises env_settings.reader.SettingError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from env_settings.reader import Environment, number, one_of, whole_number


class JournalMode(StrEnum):
    """How the API process makes each change durable before it answers."""

    ON = "on"
    FSYNC = "fsync"
    OFF = "off"


@dataclass(frozen=True)
class EmulatorSettings:
    port: int = 4566
    region: str = "us-east-1"
    state_dir: str = ".state/embedded"
    ttl_sweep_seconds: float = 1.0
    extra_cors_allowed_origins: tuple[str, ...] = ()
    journal: JournalMode = JournalMode.ON
    journal_reserve_mb: int = 64
    checkpoint_mb: int = 256
    checkpoint_seconds: float = 600.0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def from_env(cls, env: Environment = os.environ) -> EmulatorSettings:
        state_root = Path(env.get("STATE_DIR") or ".state")
        return cls(
            port=whole_number(env, "EMULATOR_PORT", cls.port),
            region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or cls.region,
            state_dir=str((state_root / "embedded").resolve()),
            ttl_sweep_seconds=number(env, "TTL_SWEEP_SECONDS", cls.ttl_sweep_seconds),
            extra_cors_allowed_origins=tuple(env.get("EXTRA_CORS_ALLOWED_ORIGINS", "").replace(",", " ").split()),
            journal=one_of(env, "EMULATOR_JOURNAL", cls.journal),
            journal_reserve_mb=whole_number(env, "EMULATOR_JOURNAL_RESERVE_MB", cls.journal_reserve_mb),
            checkpoint_mb=whole_number(env, "EMULATOR_CHECKPOINT_MB", cls.checkpoint_mb),
            checkpoint_seconds=number(env, "EMULATOR_CHECKPOINT_SECONDS", cls.checkpoint_seconds),
        )
