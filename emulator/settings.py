"""The embedded backend's settings, from the environment, with their defaults.

| variable            | default      | meaning                                                  |
|---------------------|--------------|----------------------------------------------------------|
| EMULATOR_PORT       | 4566         | port of the AWS API on 127.0.0.1 (LocalStack's port)     |
| AWS_DEFAULT_REGION  | us-east-1    | the region the emulator reports                          |
| STATE_DIR           | .state       | local state; the embedded backend keeps it in `embedded/`|
| TTL_SWEEP_SECONDS   | 1            | how often expired items are deleted                      |
| EMULATOR_LOG_LEVEL  | WARNING      | log level of the emulator processes                      |
| EXTRA_CORS_ALLOWED_ORIGINS | (none) | comma-separated origins that browsers may call from besides loopback |
| STATE_BACKUPS       | 2            | state file copies kept in `embedded/backup/` (0: none)   |
| STOP_STALL_SECONDS  | 30           | a stopping process idle this long (no CPU, no writes) is killed |
| STOP_LIMIT_SECONDS  | 3600         | a stopping process still running this long is killed     |
| STREAM_LOST_CHECKPOINT | stop      | an unreadable stream checkpoint: stop, trim_horizon or latest |

A stopping process is never killed while it works (a save of hundreds of MB takes a while): only
when it has done nothing for STOP_STALL_SECONDS, or at STOP_LIMIT_SECONDS. A backup is taken
after each start whose state files differ from the newest backup.
STREAM_LOST_CHECKPOINT: `stop` reads nothing of that stream until you choose; `trim_horizon`
reads it again from its oldest record (duplicates downstream); `latest` reads only new records
(the ones in between are never delivered).

A malformed value raises env_settings.reader.SettingError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from emulator.esm.checkpoints import LostCheckpoint
from env_settings.reader import Environment, number, one_of, whole_number


@dataclass(frozen=True)
class EmulatorSettings:
    port: int = 4566
    region: str = "us-east-1"
    state_dir: str = ".state/embedded"
    ttl_sweep_seconds: float = 1.0
    extra_cors_allowed_origins: tuple[str, ...] = ()
    state_backups: int = 2
    stop_stall_seconds: float = 30.0
    stop_limit_seconds: float = 3600.0
    stream_lost_checkpoint: LostCheckpoint = LostCheckpoint.STOP

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
            state_backups=whole_number(env, "STATE_BACKUPS", cls.state_backups),
            stop_stall_seconds=number(env, "STOP_STALL_SECONDS", cls.stop_stall_seconds),
            stop_limit_seconds=number(env, "STOP_LIMIT_SECONDS", cls.stop_limit_seconds),
            stream_lost_checkpoint=one_of(env, "STREAM_LOST_CHECKPOINT", cls.stream_lost_checkpoint),
        )
