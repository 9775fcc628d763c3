"""Read capacity as DynamoDB bills it: each item read rounds up to 4 KB, one unit per 4 KB for a strongly
consistent read and half a unit for an eventually consistent one; a missing item costs one 4 KB read."""

from __future__ import annotations

import math
from collections.abc import Iterable

READ_UNIT_BYTES = 4096


def read_units(item_sizes: Iterable[int], consistent: bool) -> float:
    per_unit = 1.0 if consistent else 0.5
    return sum(max(1, math.ceil(size / READ_UNIT_BYTES)) * per_unit for size in item_sizes)
