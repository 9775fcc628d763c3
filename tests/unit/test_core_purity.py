import pkgutil
import subprocess
import sys

import handlers.core


def test_the_pure_core_imports_without_boto3_or_botocore():
    modules = [f"handlers.core.{info.name}" for info in pkgutil.iter_modules(handlers.core.__path__)]
    script = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore'))\n"
        + "print(','.join(leaked))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert len(modules) >= 6
    assert result.stdout.strip() == ""
