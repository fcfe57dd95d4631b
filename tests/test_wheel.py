"""The built wheel is the product: it holds the experiments, the demo's parts, `py.typed` and
the license, and, installed outside any checkout, runs the command line."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (path,) = out.glob("fourierflow-*.whl")
    return path


def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("fourierflow/py.typed", "fourierflow/experiments/__init__.py",
                     "fourierflow/experiments/lottery.py", "fourierflow/plots/__init__.py",
                     "fourierflow/cli.py"):  # fmt: skip
        assert required in names, required
    experiments = sorted((ROOT / "fourierflow" / "experiments").glob("[!_]*.py"))
    assert all(f"fourierflow/experiments/{p.name}" in names for p in experiments)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text
    assert "Requires-Dist: jax>=" in text


def test_installed_wheel_runs_outside_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    env = dict(os.environ, PYTHONPATH=str(target))
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    where = run("-c", "import fourierflow; print(fourierflow.__file__)")
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr
    version = run("-m", "fourierflow", "--version")
    assert version.returncode == 0 and version.stdout.startswith("fourierflow ")
    listing = run("-m", "fourierflow", "reproduce", "--list")
    experiments = sorted(p.stem for p in (ROOT / "fourierflow" / "experiments").glob("[!_]*.py"))
    assert listing.returncode == 0
    assert [line.split()[0] for line in listing.stdout.splitlines()] == experiments
    code = (
        "from fourierflow.experiments import run_experiment\n"
        "r = run_experiment('convergence_time', 'out', n=300, n_near_pi=30, n_natural=40,"
        " n_phases=100, progress=False)\n"
        "print(r.n, r.collapse_max_rel_dev < 1e-5)\n"
    )
    small = run("-c", code)
    assert small.returncode == 0, small.stderr[-3000:]
    assert small.stdout.split()[-2:] == ["330", "True"]  # n + n_near_pi
    assert (tmp_path / "out" / "results.json").exists()
