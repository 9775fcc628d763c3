"""The embedded backend's settings, from the environment, with their defaults.

| variable            | default      | meaning                                                  |
|---------------------|--------------|----------------------------------------------------------|
| EMULATOR_PORT       | 4566         | port of the AWS API on 127.0.0.1 (LocalStack's port)     |
| AWS_DEFAULT_REGION  | us-east-1    | the region the emulator reports                          |
| STATE_DIR           | .state       | local state; the embedded backend keeps it in `embedded/`|
| TTL_SWEEP_SECONDS   | 1            | how often expired items are deleted                      |
| EMULATOR_LOG_LEVEL  | WARNING      | log level of the emulator processes                      |
| EXTRA_CORS_ALLOWED_ORIGINS | (none) | comma-separated origins that browsers may call from besides loopback |

A malformed value raises env_settings.reader.SettingError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from env_settings.reader import Environment, number, whole_number


@dataclass(frozen=True)
class EmulatorSettings:
    port: int = 4566
    region: str = "us-east-1"
    state_dir: str = ".state/embedded"
    ttl_sweep_seconds: float = 1.0
    extra_cors_allowed_origins: tuple[str, ...] = ()

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
        )
