"""`make setup` installs the workflow's library: `import msci` works outside the checkout, from its files."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_the_library_imports_anywhere_from_the_checkout(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", "import msci.field_metrics as m; print(m.__file__)"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert Path(out.stdout.strip()).resolve() == (REPO / "workflow" / "scripts" / "msci" / "field_metrics.py").resolve()
