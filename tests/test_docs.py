import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fourierflow as ff
from fourierflow import plots

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


def _public(module):
    return [
        (module, n) for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))
    ]


PUBLIC = _public(ff) + _public(plots)


@pytest.mark.parametrize("module, name", PUBLIC, ids=[f"{m.__name__}.{n}" for m, n in PUBLIC])
def test_public_names_documented(module, name):
    """Every public class has a docstring; every public function says its Arguments/Returns."""
    obj = getattr(module, name)
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"{module.__name__}.{name} has no docstring"
    if inspect.isfunction(obj):
        assert "**Arguments:**" in doc and "**Returns:**" in doc, f"{name}: Arguments/Returns"


def test_import_does_no_matplotlib_work():
    code = "import sys, fourierflow; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def _examples():
    """The Python examples of the API pages and the README (each page's blocks run together,
    in order, as a reader would paste them)."""
    pages = sorted((ROOT / "docs" / "api").glob("*.md")) + [ROOT / "README.md"]
    out = []
    for page in pages:
        blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
        if blocks and page.name != "experiments.md":  # that one runs a full experiment
            out.append((page.relative_to(ROOT).as_posix(), "\n".join(blocks)))
    return out


@pytest.mark.parametrize("page, code", _examples(), ids=[p for p, _ in _examples()])
def test_documented_examples_run(page, code, tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, f"{page}:\n{out.stderr[-3000:]}"
