"""A fleet of simulated sensors: stable ids, per-device state that drifts, unique timestamps.

Pure value generation (no I/O): everything comes from one seeded random generator, so a run
with the same seed produces the same readings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class Device:
    device_id: str
    staging: bool
    temperature: float
    humidity: float
    battery: float
    last_ms: dict[str, int] = field(default_factory=dict)

    def next_created_ms(self, not_before_ms: int, whole_second: bool, clock: str = "live") -> int:
        """A creation time no reading of this device has used (the table key is device + time)."""
        candidate = max(not_before_ms, self.last_ms.get(clock, 0) + 1)
        if whole_second:
            candidate = -(-candidate // 1000) * 1000
        self.last_ms[clock] = candidate
        return candidate


def make_fleet(count: int, staging_share: float, rng: random.Random) -> list[Device]:
    staging_count = round(count * staging_share)
    devices = []
    for index in range(count):
        staging = index < staging_count
        device_id = f"stg-dev-{index:04d}" if staging else f"dev-{index:04d}"
        devices.append(
            Device(
                device_id,
                staging,
                temperature=rng.uniform(15, 30),
                humidity=rng.uniform(30, 70),
                battery=rng.uniform(3.6, 4.2),
            )
        )
    return devices


def drift(device: Device, rng: random.Random) -> dict[str, Decimal]:
    """One reading: a mean-reverting random walk for climate, a slow drain for the battery."""
    device.temperature += rng.gauss(0, 0.15) + (22.5 - device.temperature) * 0.01
    device.humidity = min(100.0, max(0.0, device.humidity + rng.gauss(0, 0.4) + (50 - device.humidity) * 0.01))
    device.battery = max(3.0, device.battery - abs(rng.gauss(0, 0.0005)))
    return {
        "temperature": Decimal(f"{device.temperature:.2f}"),
        "humidity": Decimal(f"{device.humidity:.1f}"),
        "battery": Decimal(f"{device.battery:.3f}"),
    }
