"""The deployment zip shared by the three functions: the project's packages the functions import
(FUNCTION_PACKAGES) plus the pure-Python packages in handlers/requirements.txt (and what they
need), copied from the installed distributions, so building needs no network. boto3/botocore
are left out: the Lambda runtime has them.

The zip is deterministic (sorted entries, fixed timestamps): unchanged code gives the same
SHA-256, so the same artifact key, and the deploy reports "no changes".
"""

from __future__ import annotations

import io
import re
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_PACKAGES = ("handlers", "aws_calls", "device_data", "env_settings")
PROVIDED_BY_RUNTIME = {"boto3", "botocore", "s3transfer"}
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


class PackagingError(Exception):
    """A requirement that is not installed, or not pure Python."""


def build_function_zip(root: Path = ROOT) -> bytes:
    files: dict[str, bytes] = {}
    for package in FUNCTION_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    for distribution in _vendored_distributions(root / "handlers" / "requirements.txt"):
        for entry in distribution.files or []:
            name = entry.as_posix()
            if name.startswith("..") or "__pycache__" in name or name.endswith(".pyc"):
                continue
            if name.endswith((".so", ".pyd", ".dylib")):
                raise PackagingError(
                    f"{distribution.metadata['Name']} is not pure Python ({name}); build it for Lambda instead"
                )
            files[name] = Path(str(distribution.locate_file(entry))).read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return buffer.getvalue()


def _vendored_distributions(requirements_file: Path) -> list[metadata.Distribution]:
    wanted = [Requirement(line) for line in _requirement_lines(requirements_file)]
    found: dict[str, metadata.Distribution] = {}
    while wanted:
        requirement = wanted.pop()
        key = _normalise(requirement.name)
        if key in found or key in PROVIDED_BY_RUNTIME:
            continue
        try:
            distribution = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            raise PackagingError(f"{requirement.name} is not installed: run `make install`") from None
        found[key] = distribution
        for dependency in distribution.requires or []:
            dependency_requirement = Requirement(dependency)
            if dependency_requirement.marker is None or dependency_requirement.marker.evaluate({"extra": ""}):
                wanted.append(dependency_requirement)
    return [found[key] for key in sorted(found)]


def _requirement_lines(path: Path) -> list[str]:
    return [line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
