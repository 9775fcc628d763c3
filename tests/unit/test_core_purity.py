import importlib
import pkgutil
import subprocess
import sys

# Pure: no boto3, no botocore, no I/O. The functions' record transformations, and what the
# handlers share with the tooling inside the function zip.
PURE_PACKAGES = ("handlers.core", "device_data", "env_settings")
PURE_MODULES = ("aws_calls.batching",)


def pure_modules() -> list[str]:
    modules = list(PURE_MODULES)
    for package in PURE_PACKAGES:
        path = importlib.import_module(package).__path__
        modules += [package, *(f"{package}.{info.name}" for info in pkgutil.iter_modules(path))]
    return modules


def test_the_pure_core_imports_without_boto3_or_botocore():
    modules = pure_modules()
    script = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore'))\n"
        + "print(','.join(leaked))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert len([m for m in modules if m.startswith("handlers.core.")]) >= 6
    assert {"aws_calls.batching", "device_data.table", "device_data.messages", "env_settings.reader"} <= set(modules)
    assert result.stdout.strip() == ""
