"""A bounded memo of a pure function of one text (a DynamoDB number's checks and sizes).

Only a `str` argument is remembered: anything else (a malformed request's list or dict) goes to
the function itself, which answers it as it always did, and cannot fail for being unhashable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

Result = TypeVar("Result")

# Enough for every number of a few requests: a reading's timestamps differ, its values repeat.
TEXTS_REMEMBERED = 4096


def memoized_by_text(function: Callable[..., Result], maxsize: int = TEXTS_REMEMBERED) -> Callable[..., Result]:
    remembered = functools.lru_cache(maxsize=maxsize)(function)

    @functools.wraps(function)
    def memoized(text: object) -> Result:
        return remembered(text) if type(text) is str else function(text)

    memoized.cache_info = remembered.cache_info  # type: ignore[attr-defined]
    return memoized
