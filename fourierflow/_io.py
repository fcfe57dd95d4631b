"""Run outputs: atomic JSON writes and the metadata every run records."""

import datetime
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """Plain JSON values from nested dicts/lists of arrays, numpy scalars and paths."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):  # numpy or jax arrays
        return to_jsonable(np.asarray(obj).tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)  # JSON has no inf/nan
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return repr(obj)


def write_atomic(path: str | os.PathLike, data: bytes | Callable[[Path], None]) -> Path:
    """Write `path` through a temporary file in its folder and `os.replace` (never half-written).

    **Arguments:**

    - `path`: the file to write (folders are created).
    - `data`: the bytes, or a function `write(tmp_path)` that writes the file itself (e.g.
      `eqx.tree_serialise_leaves`, `np.savez`).

    **Returns:**

    The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if callable(data):
            data(Path(tmp))
        else:
            Path(tmp).write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented JSON atomically (a temporary file, then `os.replace`).

    **Arguments:**

    - `path`: the file to write (folders are created).
    - `obj`: nested dicts/lists of numbers, strings, arrays and NumPy scalars; non-finite
      floats are written as the strings `"inf"`, `"nan"` (JSON has no inf/nan).

    **Returns:**

    The path written.
    """
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False)
    return write_atomic(path, (text + "\n").encode())


def git_revision() -> str | None:
    """The git revision of the checkout this package runs from, if any."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def run_metadata(**arguments: Any) -> dict[str, Any]:
    """Package versions, devices, git revision, time and the run's arguments."""
    from importlib.metadata import PackageNotFoundError, version

    import jax

    versions = {}
    for pkg in ("fourierflow", "jax", "jaxlib", "diffrax", "equinox", "optax", "numpy"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    return dict(
        arguments=arguments,
        versions=versions,
        python=platform.python_version(),
        devices=[str(d) for d in jax.devices()],
        x64=bool(jax.config.jax_enable_x64),
        git_revision=git_revision(),
        time=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
