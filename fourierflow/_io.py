"""Run outputs: atomic writes, JSON, the lock of an output folder and the metadata of a run.

`write_atomic` writes a temporary file next to the target, flushes it to disk and renames it
over the target, so a reader (or a run resumed after a crash) sees the old file or the new
one, never half of one. The temporary file is created by `os.open(..., 0o666)`, so it gets
the permissions that a plain `open(path, "w")` would give (the process umask applies at that
moment; an existing target keeps its mode), not the 0600 of `tempfile.mkstemp`.
"""

import contextlib
import datetime
import json
import os
import platform
import secrets
import stat
import subprocess
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

try:
    import fcntl
except ImportError:  # not POSIX (Windows): folders are not locked
    fcntl = None

LOCK_NAME = ".fourierflow.lock"


def to_jsonable(obj: Any) -> Any:
    """Plain JSON values from nested dicts/lists of arrays, numpy scalars and paths.

    Non-finite floats (NaN, +-inf) become `None` (JSON `null`): JSON has no inf/nan, and a
    string there would turn a numeric column into text for the reader (pandas, jq).
    """
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
        return None
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return repr(obj)


def _create_temporary(path: Path) -> Path:
    # `mkstemp` would make the file 0600; `os.open` with 0o666 lets the kernel apply the
    # umask (or a default ACL) exactly as for a plain `open`, with no read of the umask.
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file next to {path}.")


def _fsync(path: Path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike, data: bytes | Callable[[Path], None]) -> Path:
    """Write `path` through a temporary file in its folder and `os.replace` (never half-written).

    The temporary file `.NAME.XXXXXXXX.tmp` is flushed to disk before the rename; the new
    file has the mode of a plain `open(path, "w")`: `0o666` less the umask for a new file,
    the old mode when `path` exists.

    **Arguments:**

    - `path`: the file to write (folders are created).
    - `data`: the bytes, or a function `write(tmp_path)` that writes the file itself (e.g.
      `eqx.tree_serialise_leaves`, `np.savez` on an open file).

    **Returns:**

    The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temporary(path)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        if callable(data):
            data(tmp)
        else:
            tmp.write_bytes(data)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # the rename itself, where a folder can be synced
        with contextlib.suppress(OSError):
            _fsync(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented JSON atomically (a temporary file, then `os.replace`).

    **Arguments:**

    - `path`: the file to write (folders are created).
    - `obj`: nested dicts/lists of numbers, strings, arrays and NumPy scalars; non-finite
      floats (NaN, +-inf) are written as `null` (JSON has no inf/nan; pandas reads `null` in
      a numeric column as NaN), so read them back as NaN.

    **Returns:**

    The path written.
    """
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False)
    return write_atomic(path, (text + "\n").encode())


# Folders held by this process: resolved path -> (holding thread, depth).
_HELD: dict[Path, tuple[int, int]] = {}
_HELD_LOCK = threading.Lock()


@contextlib.contextmanager
def lock_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Hold the folder `path` for one run: a second holder gets a `RuntimeError` at once.

    The lock is `fcntl.flock` on `path/.fourierflow.lock` (created if needed, never deleted),
    which also records the holder's pid, host and start time for the message. The kernel
    releases it when the holder exits, however it exits, so the file of a dead run does not
    block. Another process, or another thread of this one, is refused; the thread that holds
    the folder may take it again (nested), as a command line does around a sweep it streams
    into the same folder.

    **Arguments:**

    - `path`: the folder (created if needed).

    **Returns:**

    A context manager that yields `path` as a `Path`.

    **Raises:**

    `RuntimeError` naming the folder and the holder when another run holds it.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    key, me = path.resolve(), threading.get_ident()
    with _HELD_LOCK:
        owner, depth = _HELD.get(key, (None, 0))
        nested = owner == me
        if nested:
            _HELD[key] = (me, depth + 1)
    if nested:
        try:
            yield path
        finally:
            with _HELD_LOCK:
                _HELD[key] = (me, _HELD[key][1] - 1)
        return
    if fcntl is None:
        warnings.warn(f"{path} is not locked: this platform has no fcntl.flock.", stacklevel=3)
        yield path
        return
    fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            raise RuntimeError(
                f"{path} is in use by another fourierflow run (pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')} since {holder.get('since', '?')}); wait for it or "
                "choose another folder."
            ) from None
        since = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        info = json.dumps(dict(pid=os.getpid(), host=platform.node(), since=since))
        os.ftruncate(fd, 0)
        os.pwrite(fd, (info + "\n").encode(), 0)
        with _HELD_LOCK:
            _HELD[key] = (me, 1)
        try:
            yield path
        finally:
            with _HELD_LOCK:
                _HELD.pop(key, None)
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> dict:
    # The holder may not have written its line yet (it writes just after locking).
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode())
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


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
