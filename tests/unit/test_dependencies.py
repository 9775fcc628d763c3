"""Dependencies point one way: the AWS stand-in and the load generator do not depend on the code
they run, and the function zip holds every module of the project the functions import.

The imports are read from the source (every `import`, including the ones inside functions), so
a lazy import cannot slip past as it would past a check of sys.modules."""

import ast
from pathlib import Path

from bootstrap.package import FUNCTION_PACKAGES

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {
    "handlers",
    "aws_calls",
    "device_data",
    "env_settings",
    "bootstrap",
    "emulator",
    "simulator",
    "iot_pipeline_testing",
    "bench",
    "tests",
}
SHARED_PACKAGES = ("aws_calls", "device_data", "env_settings")


def imported_packages(package: str) -> dict[str, set[str]]:
    """module path -> the top-level packages it imports."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[path.relative_to(ROOT).as_posix()] = names
    return found


def importers_of(packages: tuple[str, ...], forbidden: set[str]) -> dict[str, set[str]]:
    return {
        module: names & forbidden
        for package in packages
        for module, names in imported_packages(package).items()
        if names & forbidden
    }


def test_the_scan_sees_imports_inside_functions():
    assert "boto3" in imported_packages("handlers")["handlers/aws.py"]
    assert "emulator" in imported_packages("bootstrap")["bootstrap/local_stack.py"]


def test_the_emulator_and_the_simulator_never_import_the_handlers():
    assert importers_of(("emulator", "simulator"), {"handlers"}) == {}


def test_the_shared_packages_import_none_of_the_packages_that_use_them():
    assert importers_of(SHARED_PACKAGES, PROJECT_PACKAGES - set(SHARED_PACKAGES)) == {}


def test_the_function_zip_holds_every_project_package_the_functions_import():
    assert importers_of(FUNCTION_PACKAGES, PROJECT_PACKAGES - set(FUNCTION_PACKAGES)) == {}
    assert set(SHARED_PACKAGES) <= set(FUNCTION_PACKAGES)
