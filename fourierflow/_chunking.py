"""How big a batch is solved at once: the chunk-size policy and the sequential chunked map.

An adaptive solve of a batch (vmapped, or one system with shared steps) steps until its slowest
element is done, and its working set grows with the batch, so large batches are solved in
sequential chunks: on a CPU the chunk's working set should stay in cache, an accelerator wants
large kernels to fill the device. The defaults below were measured (float64, the project's
benchmarks): on a 2-core CPU 1024-4096 alignment solves per chunk ran 2.0-2.4e5/s and 65536
1.2e5/s; on an H200 262144 ran 2.6e7/s and 65536 1.2e7/s.
"""

import jax
import jax.numpy as jnp

from ._checks import check_positive_int

# Elements per chunk by platform: a generic vmapped solve (`sweep`), the shared-step
# alignment solve, and the closed form (straight-line code: big chunks amortise dispatch).
_SWEEP = {"cpu": 4096}
_SWEEP_ACCELERATOR = 1 << 16
_ALIGNMENT = {"cpu": 4096}
_ALIGNMENT_ACCELERATOR = 1 << 18
CLOSED_FORM_CHUNK = 1 << 16
# Ensembles of flows: bytes of one (pairs x neurons) intermediate of the whole chunk. On a CPU
# it should stay in cache (p = 23, width 64, float64: the vector field costs 295, 217, 349 and
# 711 us per member at 4, 16, 64 and 256 members); on an accelerator it bounds memory.
_ENSEMBLE_BYTES = {"cpu": 2 << 20}
_ENSEMBLE_BYTES_ACCELERATOR = 1 << 30


def _platform(platform: str | None) -> str:
    return jax.default_backend() if platform is None else platform


def default_chunk_size(platform: str | None = None) -> int:
    """The default elements per chunk of a vmapped sweep on a platform.

    **Arguments:**

    - `platform`: a JAX platform name (`"cpu"`, `"gpu"`, `"tpu"`); default: JAX's default
      backend.

    **Returns:**

    4096 on CPU (cache-sized), 65536 on accelerators.
    """
    return _SWEEP.get(_platform(platform), _SWEEP_ACCELERATOR)


def ensemble_chunk_size(p: int, width: int, itemsize: int, platform: str | None = None) -> int:
    """The default members per chunk of an ensemble of flows (`solve_ensemble`).

    **Arguments:**

    - `p`, `width`: the members' modulus and number of neurons.
    - `itemsize`: bytes per number (8 for float64).
    - `platform`: a JAX platform name; default: JAX's default backend.

    **Returns:**

    The number of members whose `(p (p + 1) / 2) x width` intermediates (the folded pairs by
    the neurons) together fill 2 MiB on a CPU (cache) or 1 GiB on an accelerator; at least 1,
    at most the platform's `default_chunk_size`.
    """
    platform = _platform(platform)
    member = (p * (p + 1) // 2) * width * itemsize
    budget = _ENSEMBLE_BYTES.get(platform, _ENSEMBLE_BYTES_ACCELERATOR)
    return int(min(max(budget // member, 1), default_chunk_size(platform)))


def alignment_chunk_size(platform: str | None = None) -> int:
    """The default elements per `solve_alignment` solve (one ODE system) on a platform.

    **Arguments:**

    - `platform`: a JAX platform name (`"cpu"`, `"gpu"`, `"tpu"`); default: JAX's default
      backend.

    **Returns:**

    4096 on CPU (cache-sized), 262144 on accelerators.
    """
    return _ALIGNMENT.get(_platform(platform), _ALIGNMENT_ACCELERATOR)


def check_chunk_size(chunk_size) -> int | None:
    """`chunk_size` must be `None` (one chunk) or an int >= 1."""
    return None if chunk_size is None else check_positive_int(chunk_size, "chunk_size")


def chunked(fn, tree, chunk_size: int | None):
    """`fn(tree)` for a batched `fn`, over the leading axis of every leaf of `tree`, in
    sequential chunks of `chunk_size` (`None`: one call). The last chunk is padded with copies
    of element 0, so every chunk has one shape (one compilation).
    """
    leaves = jax.tree.leaves(tree)
    n = leaves[0].shape[0]
    if chunk_size is None or n <= chunk_size:
        return fn(tree)
    n_chunks = -(-n // chunk_size)
    pad = n_chunks * chunk_size - n

    def prep(a):
        a = jnp.concatenate([a, jnp.broadcast_to(a[:1], (pad,) + a.shape[1:])])
        return a.reshape((n_chunks, chunk_size) + a.shape[1:])

    out = jax.lax.map(fn, jax.tree.map(prep, tree))
    return jax.tree.map(lambda o: o.reshape((n_chunks * chunk_size,) + o.shape[2:])[:n], out)
