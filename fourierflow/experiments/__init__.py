"""The paper's figures and tables, one module each (`fourierflow reproduce NAME`).

Each module has a `main(out=..., **defaults)` that calls the public `fourierflow` API, writes
its figures and a `results.json` of the numbers it checks under `out`, and returns those
numbers. They ship with the package, so an installed `fourierflow` reproduces the paper
without a source checkout. Listing them reads only their docstrings (nothing is imported).
"""

import ast
import importlib
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["list_experiments", "run_experiment"]


def list_experiments() -> dict[str, str]:
    """Every experiment, by name, with the first line of its docstring.

    **Arguments:**

    (none)

    **Returns:**

    A dict from name (`fourierflow reproduce NAME`) to what it reproduces.
    """
    out = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        name = entry.name
        if not name.endswith(".py") or name.startswith("_"):
            continue
        doc = ast.get_docstring(ast.parse(entry.read_text())) or ""
        out[name[:-3]] = " ".join(doc.strip().split("\n\n")[0].split())
    return out


def run_experiment(name: str, out: str | Path, **overrides: Any) -> dict:
    """Run experiment `name`'s `main(out=out, **overrides)` and return its numbers.

    **Arguments:**

    - `name`: the experiment's name (see `list_experiments`).
    - `out`: the output folder.
    - `overrides`: keyword arguments passed to `main`.

    **Returns:**

    The numbers `main` returns (also written to `out/results.json` or its own JSON).
    """
    names = list_experiments()
    if name not in names:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(names)}.")
    module = importlib.import_module(f"{__name__}.{name}")
    return module.main(out=str(out), **overrides)
