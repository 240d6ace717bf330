"""`platform/` is a source root, not a package: `import platform` must stay the standard library."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_import_platform_from_repo_root_is_the_standard_library() -> None:
    env = {**os.environ, "PYTHONPATH": "platform:."}
    result = subprocess.run(
        [sys.executable, "-c", "import platform; print(platform.__file__); platform.system()"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = Path(result.stdout.strip()).resolve()
    assert imported.parent == Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert not (REPO_ROOT / "platform" / "__init__.py").exists()
