import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np


def tree_allclose(x, y, *, rtol=1e-5, atol=1e-8):
    """Whether two pytrees have the same structure and allclose leaves."""
    if jtu.tree_structure(x) != jtu.tree_structure(y):
        return False
    return all(
        np.shape(a) == np.shape(b) and bool(jnp.allclose(a, b, rtol=rtol, atol=atol))
        for a, b in zip(jtu.tree_leaves(x), jtu.tree_leaves(y), strict=True)
    )


# The start of a training subprocess that announces every checkpoint file it writes (and holds
# the file named `args["hold"]` as a temporary file for 600 s, so a test can kill it mid-write).
# Its argument is a JSON dict: `hold`, optionally `delay` (seconds each file stays temporary).
ANNOUNCED_WRITES = """
import json, sys, time
import jax
jax.config.update("jax_enable_x64", True)
from fourierflow import _configs, _train
args = json.loads(sys.argv[1])
write_atomic = _train.write_atomic

def announced_write(path, data):
    def write(tmp):
        tmp.write_bytes(data)
        print("writing", path.name, flush=True)
        time.sleep(600 if path.name == args["hold"] else args.get("delay", 0))
    return write_atomic(path, write)

_train.write_atomic = announced_write  # every checkpoint is written by _train.save_checkpoint
"""
