"""Locate and run the scripts of `experiments/` (one per paper figure or table).

The scripts live beside the package in a source checkout (`pip install -e .`, as `make`
does); each has a `main(out=..., **defaults)` returning a dict of the numbers it checks.
"""

import runpy
from pathlib import Path
from typing import Any

EXPERIMENTS_DIR = Path(__file__).resolve().parent.parent / "experiments"


def list_experiments() -> dict[str, str]:
    """Experiment name -> the first line of its docstring."""
    if not EXPERIMENTS_DIR.is_dir():
        return {}
    out = {}
    for path in sorted(EXPERIMENTS_DIR.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        parts = path.read_text().split('"""')
        out[path.stem] = parts[1].strip().splitlines()[0] if len(parts) > 1 else ""
    return out


def run_experiment(name: str, out: str | Path, **overrides: Any) -> dict:
    """Run `experiments/<name>.py`'s `main(out=out, **overrides)` and return its numbers.

    **Arguments:**

    - `name`: the script's stem (see `list_experiments`).
    - `out`: the output folder.
    - `overrides`: keyword arguments passed to `main`.

    **Returns:**

    The dict `main` returns.
    """
    names = list_experiments()
    if name not in names:
        where = (
            f" in {EXPERIMENTS_DIR}"
            if EXPERIMENTS_DIR.is_dir()
            else (f": {EXPERIMENTS_DIR} not found (run from a source checkout, `pip install -e .`)")
        )
        raise ValueError(f"unknown experiment {name!r}{where}; choose one of {sorted(names)}.")
    module = runpy.run_path(str(EXPERIMENTS_DIR / f"{name}.py"), run_name=f"experiments.{name}")
    return module["main"](out=str(out), **overrides)
