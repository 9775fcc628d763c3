"""Each DynamoDB number read once per request, not a dozen times.

MiniStack checks, canonicalises and sizes a number's text at every pass over an item: a
BatchWriteItem member is checked three times and canonicalised twice (its values, then each of
its two validation passes) and sized three times (the 400 KB check twice, the write capacity
once), each a regular expression and a Decimal. These functions depend on the text alone, so a
bounded memo of each answers what the function answers: a BatchWriteItem of 25 readings takes
about a quarter less API CPU (bench/results/profile-2026-11-23.md, "API hot path").
"""

from __future__ import annotations

from typing import Any

from emulator.ministack.registry import Originals, Patch, Target
from emulator.text_memo import memoized_by_text

DYNAMODB = "ministack.services.dynamodb"
CANONICAL_NUMBER = Target(DYNAMODB, "_ddb_canonicalize_number")
NUMBER_ERROR = Target(DYNAMODB, "_number_error")
NUMBER_SIZE = Target(DYNAMODB, "_number_size_bytes")


def _memoized(originals: Originals) -> dict[Target, Any]:
    return {target: memoized_by_text(original) for target, original in originals.items()}


NUMBERS_MEMOIZED = Patch(
    name="dynamodb-numbers-memoized",
    summary="A number's check, canonical form and size are remembered by its text (they depend on nothing else)",
    targets={
        CANONICAL_NUMBER: "cfa3862c4b5124a614d1e681cf8d67618397942bf27ef146481ef017d58ca309",
        NUMBER_ERROR: "ef4bc256910b5cf4c4dc46bf65f7473db5a8a6466df73ac43673bdb6ad0b8549",
        NUMBER_SIZE: "b88f1324ce678bb276156a8702e006da5c99223b856b4d553f9a0ee96a24b463",
    },
    build=_memoized,
)
