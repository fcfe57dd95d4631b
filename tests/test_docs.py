import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fourierflow as ff

ROOT = Path(__file__).resolve().parent.parent


def test_docs_build_strict(tmp_path):
    """`mkdocs build --strict` fails on a broken link, a missing page or an unresolved API name."""
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists():
        mkdocs = shutil.which("mkdocs")
    assert mkdocs, "mkdocs is a test dependency (pyproject [test] extra)"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    out = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


PUBLIC = [name for name in dir(ff) if not name.startswith("_") and callable(getattr(ff, name))]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_names_documented(name):
    obj = getattr(ff, name)
    doc = obj.__doc__ or ""
    assert doc.strip(), f"fourierflow.{name} has no docstring"
