"""Glacier restores on the embedded backend: how long a restore takes is a setting.

MiniStack already answers as S3 does: GetObject on a GLACIER or DEEP_ARCHIVE object is refused
with 403 InvalidObjectState until a restore has completed, HeadObject carries `x-amz-restore`
(`ongoing-request="true"`, then `"false"` with the expiry date), and a second RestoreObject during
a restore is refused with RestoreAlreadyInProgress. Its restore takes a fixed 2 s, for every
tier, where AWS takes minutes to hours: `restore_delay(seconds)` makes it the emulator's
GLACIER_RESTORE_SECONDS, so a test or a user can hold an object in its restore window.
"""

from __future__ import annotations

from typing import Any

from emulator.ministack.registry import Originals, Patch, Target

S3 = "ministack.services.s3"
RESTORE_DELAY = Target(S3, "_RESTORE_DELAY_SECONDS")


def restore_delay(seconds: float) -> Patch:
    def build(originals: Originals) -> dict[Target, Any]:
        return {RESTORE_DELAY: seconds}

    return Patch(
        name="glacier-restore-delay-setting",
        summary=f"A Glacier restore completes after GLACIER_RESTORE_SECONDS ({seconds:g} s), not MiniStack's fixed 2 s",
        targets={RESTORE_DELAY: "d84bdb34d4eeef4034d77e5403f850e35bc4a51b1143e3a83510e1aaad839748"},
        build=build,
        # The one reader of the delay, where a restore is requested.
        relies_on={Target(S3, "_restore_object"): "e3d6d8b2e95053acfcbefd13ac228b73c7c9474ae271eece871a18426e7bf059"},
    )
