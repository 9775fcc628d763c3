"""The embedded backend's settings, from the environment, with their defaults.

| variable                    | default   | meaning                                                          |
|-----------------------------|-----------|------------------------------------------------------------------|
| EMULATOR_PORT               | 4566      | port of the AWS API on 127.0.0.1; every local tool follows it    |
| AWS_DEFAULT_REGION          | us-east-1 | the region the emulator reports                                  |
| STATE_DIR                   | .state    | local state; the embedded backend keeps it in `embedded/`        |
| TTL_SWEEP_SECONDS           | 1         | how often expired items are deleted                              |
| TTL_DELETION_DELAY_SECONDS  | 0         | how long after expiry an item is deleted (readable until then)   |
| EMULATOR_LOG_LEVEL          | WARNING   | DEBUG, INFO, WARNING or ERROR, for the emulator's processes      |
| EXTRA_CORS_ALLOWED_ORIGINS  | (none)    | comma-separated origins browsers may call from besides loopback  |
| STATE_BACKUPS               | 2         | state file copies kept in `embedded/backup/` (0: none)           |
| STOP_STALL_SECONDS          | 30        | a stopping process idle this long (no CPU, no writes) is killed  |
| STOP_LIMIT_SECONDS          | 3600      | a stopping process still running this long is killed             |
| STREAM_LOST_CHECKPOINT      | stop      | an unreadable stream checkpoint: stop, trim_horizon or latest    |
| GLACIER_RESTORE_SECONDS     | 2         | how long a Glacier restore takes (AWS: minutes to hours)         |
| EMULATOR_JOURNAL            | on        | `on`, `fsync` or `off`: see below                                |
| EMULATOR_JOURNAL_RESERVE_MB | 64        | disk kept reserved for the journal; writes get 503 without it    |
| EMULATOR_CHECKPOINT_MB      | 256       | snapshot, and a fresh journal, past this journal size            |
| EMULATOR_CHECKPOINT_SECONDS | 600       | ... or when the journal is this old and not empty                |

EMULATOR_JOURNAL: `on` journals every change with write() before its answer, which survives a
kill -9 of the API process; `fsync` also fdatasyncs each write, which survives a power cut and
costs about 0.5 ms per request here; `off` keeps MiniStack's behaviour, where a crash loses everything
since the last clean stop.

A stopping process is never killed while it works (a save of hundreds of MB takes a while): only
when it has done nothing for STOP_STALL_SECONDS, or at STOP_LIMIT_SECONDS. A backup is taken
after each start whose state files differ from the newest backup.
STREAM_LOST_CHECKPOINT: `stop` reads nothing of that stream until you choose; `trim_horizon`
reads it again from its oldest record (duplicates downstream); `latest` reads only new records
(the ones in between are never delivered).

The endpoint, http://127.0.0.1:<EMULATOR_PORT>, is derived in aws_calls.sessions with every
other local tool's. The processes started by emulator.lifecycle get these settings from the
EmulatorSettings value (environment()), not from the shell they were started from.
A malformed value raises env_settings.reader.SettingError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from aws_calls.sessions import DEFAULT_EMULATOR_PORT, LOCAL_REGION, emulator_port, loopback_endpoint
from emulator.esm.checkpoints import LostCheckpoint
from env_settings.reader import Environment, number, one_of, whole_number

# The embedded backend's folder inside STATE_DIR.
EMBEDDED_FOLDER = "embedded"


class LogLevel(StrEnum):
    """The `logging` levels, by name."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class JournalMode(StrEnum):
    """How the API process makes each change durable before it answers."""

    ON = "on"
    FSYNC = "fsync"
    OFF = "off"


@dataclass(frozen=True)
class EmulatorSettings:
    port: int = DEFAULT_EMULATOR_PORT
    region: str = LOCAL_REGION
    # Always <STATE_DIR>/embedded: environment() hands the processes its parent as STATE_DIR.
    state_dir: str = f".state/{EMBEDDED_FOLDER}"
    ttl_sweep_seconds: float = 1.0
    ttl_deletion_delay_seconds: float = 0.0
    log_level: LogLevel = LogLevel.WARNING
    extra_cors_allowed_origins: tuple[str, ...] = ()
    state_backups: int = 2
    stop_stall_seconds: float = 30.0
    stop_limit_seconds: float = 3600.0
    stream_lost_checkpoint: LostCheckpoint = LostCheckpoint.STOP
    glacier_restore_seconds: float = 2.0
    journal: JournalMode = JournalMode.ON
    journal_reserve_mb: int = 64
    checkpoint_mb: int = 256
    checkpoint_seconds: float = 600.0

    @property
    def endpoint(self) -> str:
        return loopback_endpoint(self.port)

    @classmethod
    def from_env(cls, env: Environment = os.environ) -> EmulatorSettings:
        state_root = Path(env.get("STATE_DIR") or ".state")
        return cls(
            port=emulator_port(env),
            region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or cls.region,
            state_dir=str((state_root / EMBEDDED_FOLDER).resolve()),
            ttl_sweep_seconds=number(env, "TTL_SWEEP_SECONDS", cls.ttl_sweep_seconds),
            ttl_deletion_delay_seconds=number(env, "TTL_DELETION_DELAY_SECONDS", cls.ttl_deletion_delay_seconds),
            log_level=one_of(env, "EMULATOR_LOG_LEVEL", cls.log_level),
            extra_cors_allowed_origins=tuple(env.get("EXTRA_CORS_ALLOWED_ORIGINS", "").replace(",", " ").split()),
            state_backups=whole_number(env, "STATE_BACKUPS", cls.state_backups),
            stop_stall_seconds=number(env, "STOP_STALL_SECONDS", cls.stop_stall_seconds),
            stop_limit_seconds=number(env, "STOP_LIMIT_SECONDS", cls.stop_limit_seconds),
            stream_lost_checkpoint=one_of(env, "STREAM_LOST_CHECKPOINT", cls.stream_lost_checkpoint),
            glacier_restore_seconds=number(env, "GLACIER_RESTORE_SECONDS", cls.glacier_restore_seconds),
            journal=one_of(env, "EMULATOR_JOURNAL", cls.journal),
            journal_reserve_mb=whole_number(env, "EMULATOR_JOURNAL_RESERVE_MB", cls.journal_reserve_mb),
            checkpoint_mb=whole_number(env, "EMULATOR_CHECKPOINT_MB", cls.checkpoint_mb),
            checkpoint_seconds=number(env, "EMULATOR_CHECKPOINT_SECONDS", cls.checkpoint_seconds),
        )

    def environment(self) -> dict[str, str]:
        """These settings as the variables from_env reads, for the emulator's processes. It also
        sets AWS_ENDPOINT_URL, which MiniStack hands to the function workers it starts: their SDK
        calls come back to this emulator whatever the shell had exported."""
        return {
            "EMULATOR_PORT": str(self.port),
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": self.region,
            "STATE_DIR": str(Path(self.state_dir).parent),
            "TTL_SWEEP_SECONDS": str(self.ttl_sweep_seconds),
            "TTL_DELETION_DELAY_SECONDS": str(self.ttl_deletion_delay_seconds),
            "EMULATOR_LOG_LEVEL": str(self.log_level),
            "EXTRA_CORS_ALLOWED_ORIGINS": ",".join(self.extra_cors_allowed_origins),
            "STATE_BACKUPS": str(self.state_backups),
            "STOP_STALL_SECONDS": str(self.stop_stall_seconds),
            "STOP_LIMIT_SECONDS": str(self.stop_limit_seconds),
            "STREAM_LOST_CHECKPOINT": str(self.stream_lost_checkpoint),
            "GLACIER_RESTORE_SECONDS": str(self.glacier_restore_seconds),
            "EMULATOR_JOURNAL": str(self.journal),
            "EMULATOR_JOURNAL_RESERVE_MB": str(self.journal_reserve_mb),
            "EMULATOR_CHECKPOINT_MB": str(self.checkpoint_mb),
            "EMULATOR_CHECKPOINT_SECONDS": str(self.checkpoint_seconds),
        }
