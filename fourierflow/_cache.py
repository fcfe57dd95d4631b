"""The persistent compilation cache: compiled programs kept on disk between processes.

A new process pays seconds of XLA compilation before its first solve; JAX can keep compiled
programs on disk and reuse them in the next process. The command line and the experiments
turn this on by default, in `$FOURIERFLOW_CACHE_DIR`, else `$XDG_CACHE_HOME/fourierflow/jax`,
else `~/.cache/fourierflow/jax`; `FOURIERFLOW_CACHE_DIR=off` (or `none`) turns it off.
"""

import os
from pathlib import Path

import jax

__all__ = ["enable_compilation_cache"]

_OFF = ("off", "none", "0", "false", "")


def default_cache_dir() -> Path | None:
    """The cache folder of the environment, or `None` when it is turned off."""
    value = os.environ.get("FOURIERFLOW_CACHE_DIR")
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fourierflow" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Keep compiled programs on disk, so that the next process reuses them.

    **Arguments:**

    - `path`: the cache folder; default `$FOURIERFLOW_CACHE_DIR`, else
      `$XDG_CACHE_HOME/fourierflow/jax` (`~/.cache/fourierflow/jax`); the environment value
      `off` turns the cache off.

    **Returns:**

    The folder in use, or `None` when the cache is off. JAX's own cache: programs that took
    under a second to compile are not kept (compiling them is about as fast as reading them).
    """
    folder = Path(path).expanduser() if path is not None else default_cache_dir()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # an unwritable home: run without the cache rather than fail
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
