"""`sweep`: one function over many elements, vmapped, chunked and sharded over devices.

One mechanism applies a per-element function to a batch of inputs under `vmap`, in chunks of
bounded memory, sharded over a 1-D mesh of devices (`jax.shard_map`), and collects the outputs
with an `Outcome` per element, so that one failing element (a `D0 = pi` start, a blow-up, a
solver that ran out of steps) is reported instead of spoiling the batch. Shards of one sweep
run by independent processes (`shard=(i, N)`) merge back into the whole (`merge_sweeps`).
"""

import functools
import json
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from ._checks import check_choice, check_positive_int, warn_if_float32
from ._chunking import default_chunk_size
from ._io import run_metadata, to_jsonable
from ._outcome import (
    Outcome,
    as_numpy,
    concatenate,
    from_diffrax,
    full,
    is_ok,
    take,
    where,
)
from ._sweep_result import SweepResult
from ._sweep_store import RESULT, digest, streaming
from ._types import ArrayLike
from ._version import __version__

__all__ = ["parse_shard", "shard_bounds", "sweep"]

_AXIS = "sweep"


def _leaf_name(path) -> str:
    parts = []
    for key in path:
        if isinstance(key, jtu.DictKey):
            parts.append(str(key.key))
        elif isinstance(key, jtu.SequenceKey):
            parts.append(str(key.idx))
        elif isinstance(key, jtu.GetAttrKey):
            parts.append(key.name)
        else:
            parts.append(str(key))
    return "/".join(parts)


def _flatten_named(tree, default: str) -> dict[str, Any]:
    leaves = jtu.tree_flatten_with_path(tree)[0]
    out = {}
    for path, leaf in leaves:
        name = _leaf_name(path) or default
        out[name] = leaf
    return out


def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """Read a shard specification `"i/N"` or `(i, N)` (0 <= i < N).

    **Arguments:**

    - `shard`: `None` (the whole sweep), `"i/N"` (as a command line writes it), or `(i, N)`.

    **Returns:**

    `None` or the pair `(i, N)`.
    """
    if shard is None:
        return None
    if isinstance(shard, str):
        try:
            i, N = (int(s) for s in shard.split("/"))
        except ValueError:
            msg = f"`shard` must look like 'i/N' with integers; got shard={shard!r}."
            raise ValueError(msg) from None
    else:
        try:
            i, N = shard
        except (TypeError, ValueError):
            msg = f"`shard` must be None, 'i/N' or a pair (i, N); got {shard!r}."
            raise TypeError(msg) from None
    if isinstance(i, bool) or isinstance(N, bool) or not isinstance(i, int | np.integer):
        raise TypeError(f"`shard` must hold integers; got shard={shard!r}.")
    i, N = int(i), int(N)
    if not (N >= 1 and 0 <= i < N):
        raise ValueError(f"`shard` (i, N) must satisfy N >= 1 and 0 <= i < N; got {shard!r}.")
    return i, N


def shard_bounds(n: int, shard: tuple[int, int] | None) -> tuple[int, int]:
    """The contiguous range of the processing order that shard `(i, N)` of a sweep holds.

    The processing order is the elements themselves unless `sweep` is given an `order`; the
    `N` shards partition `[0, n)`.

    **Arguments:**

    - `n`: the number of elements of the whole sweep.
    - `shard`: `(i, N)`, or `None` for the whole sweep.

    **Returns:**

    `(lo, hi)`: the shard holds positions `lo <= j < hi` (`(0, n)` for `None`).
    """
    if shard is None:
        return 0, n
    i, N = shard
    return i * n // N, (i + 1) * n // N


def _flag_nonfinite(out, outcome):
    """Per element: an element that ended well but whose outputs hold a NaN is marked
    `nonfinite` all the same. Infinities are values here (an event that never happened, the
    time of an element that never aligns), reported with their own outcome or field."""
    outcome = from_diffrax(outcome)
    clean = jnp.ones(jnp.shape(outcome == Outcome.successful), bool)
    for leaf in jtu.tree_leaves(out):
        leaf = jnp.asarray(leaf)
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            clean = clean & ~jnp.any(jnp.isnan(leaf.reshape(leaf.shape[0], -1)), axis=1)
    return out, where(is_ok(outcome) & ~clean, Outcome.nonfinite, outcome)


def _is_key(leaf) -> bool:
    return jnp.issubdtype(getattr(leaf, "dtype", np.float64), jax.dtypes.prng_key)


def _wrap_keys(xs, key_impls):
    leaves, treedef = jtu.tree_flatten(xs)
    leaves = [
        leaf if impl is None else jax.random.wrap_key_data(leaf, impl=impl)
        for leaf, impl in zip(leaves, key_impls, strict=True)
    ]
    return jtu.tree_unflatten(treedef, leaves)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _run_chunk(fn: Callable, batched: bool, mesh: Mesh, strategy: str, key_impls: tuple, xs):
    def block(xs):
        xs = _wrap_keys(xs, key_impls)
        return _flag_nonfinite(*(fn(xs) if batched else jax.vmap(fn)(xs)))

    if strategy == "shard_map":
        # check_vma=False: the function (Diffrax while loops, events) is ordinary
        # single-device code; each device runs it on its own block of the chunk.
        block = jax.shard_map(
            block, mesh=mesh, in_specs=P(_AXIS), out_specs=P(_AXIS), check_vma=False
        )
        return block(xs)
    # The fallback: let jit partition the computation by the input sharding.
    out = block(xs)
    return jax.lax.with_sharding_constraint(out, NamedSharding(mesh, P(_AXIS)))


def sweep(
    fn: Callable[[Any], tuple[Any, Any]],
    inputs: Any,
    *,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = True,
    shard: str | tuple[int, int] | None = None,
    strategy: Literal["shard_map", "jit"] = "shard_map",
    metadata: dict | None = None,
    batched: bool = False,
    order: ArrayLike | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    dims: dict[str, Sequence[str]] | None = None,
) -> SweepResult:
    """Apply a per-element function to every element of a batch, vmapped, in chunks of bounded
    memory, sharded over devices, with an `Outcome` per element.

    **Arguments:**

    - `fn`: `x -> (outputs, outcome)` for ONE element `x` (the structure of `inputs` without
      the leading axis); `outputs` is a pytree of arrays, `outcome` a `fourierflow.Outcome`
      (e.g. a solution's `result` with `throw=False`) or a Diffrax `RESULTS`. An element that
      ended well but whose outputs hold a NaN gets `Outcome.nonfinite` (infinities are values,
      e.g. the time of an event that did not happen). `fn` must be
      jittable; keep the same function object between calls to reuse its compilation.
      With `batched=True`, `fn` instead maps a block of elements (leading axis) to outputs
      and outcomes with the same leading axis (for solvers that treat a batch as one system).
    - `inputs`: a dict (or any pytree) of arrays sharing a leading axis `n` (PRNG key arrays
      too: they travel, and are stored, as their key data).
    - `chunk_size`: elements per chunk (rounded up to a multiple of the device count); bounds
      the memory. Default `default_chunk_size(platform)`: 4096 on CPU, 65536 on GPU/TPU.
      Every chunk has this size (the last is padded), so there is one compilation.
    - `devices`: the devices of the 1-D mesh (default all of `jax.devices()`).
    - `progress`: show a tqdm bar over chunks.
    - `shard`: `None`, or `(i, N)` / `"i/N"`: compute only the i-th of N contiguous slices
      (for independent processes on many hosts; `merge_sweeps` joins them).
    - `strategy`: `"shard_map"` (`jax.shard_map` over the mesh) or `"jit"` (jit with a
      `NamedSharding`; the fallback).
    - `metadata`: JSON-able facts that identify the sweep (its kind, parameters, `seed`);
      they are part of its identity (see `out`) and are recorded in the result.
    - `batched`: `fn` takes a block of elements (see `fn`) instead of one, and is not vmapped.
    - `order`: optional permutation of `range(n)`: the order in which elements are put into
      chunks (and shards). An adaptive solve steps a chunk until its slowest element is done,
      so ordering by expected cost makes chunks homogeneous and faster. Results are returned
      by element, sorted by `index`, whatever the order.
    - `out`: a folder to stream the results to, chunk by chunk (atomic, checksummed), ending
      with the whole result in `out/sweep.npz`; `out/sweep.json` records the sweep's identity
      (function, `metadata`, inputs' digest, `n`, shard, chunking, version) and its state
      (running, complete, failed with why). One run at a time holds the folder.
    - `resume`: continue the sweep in `out` from its intact chunks (refused if `out` holds
      another sweep); without it an `out` that holds a sweep is refused.
    - `dims`: names of the per-element axes of inputs and outputs (after the element axis),
      e.g. `{"beta": ("frequency", "time")}`, for `SweepResult.to_xarray`.

    **Returns:**

    A `SweepResult` with the inputs (flattened to a dict by path), the outputs, `outcome` and
    the elements' global `index`.
    """
    if not callable(fn):
        raise TypeError(f"`fn` must be callable; got {type(fn).__name__}.")
    warn_if_float32("sweep")
    check_choice(strategy, "strategy", ("shard_map", "jit"))
    shard = parse_shard(shard)
    if not isinstance(resume, bool):
        raise TypeError(f"`resume` must be a bool; got {resume!r}.")
    if resume and out is None:
        raise ValueError("`resume=True` needs an `out` folder to resume from.")
    leaves = jtu.tree_leaves(inputs)
    if not leaves:
        raise ValueError("`inputs` must hold at least one array.")
    # PRNG keys travel as their integer data and are wrapped again on the device.
    key_impls = tuple(jax.random.key_impl(leaf) if _is_key(leaf) else None for leaf in leaves)
    leaves = [
        np.asarray(jax.random.key_data(leaf) if impl else leaf)
        for leaf, impl in zip(leaves, key_impls, strict=True)
    ]
    if any(leaf.ndim == 0 for leaf in leaves):
        raise ValueError("every array of `inputs` needs a leading batch axis; got a scalar.")
    n_total = leaves[0].shape[0]
    if any(leaf.shape[0] != n_total for leaf in leaves):
        shapes = [leaf.shape for leaf in leaves]
        raise ValueError(f"the arrays of `inputs` must share a leading axis; got {shapes}.")
    treedef = jtu.tree_structure(inputs)
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("`devices` must hold at least one device.")
    n_dev = len(devices)
    if chunk_size is None:
        chunk_size = default_chunk_size(devices[0].platform)
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    mesh = Mesh(np.asarray(devices, dtype=object), (_AXIS,))
    sharding = NamedSharding(mesh, P(_AXIS))

    lo, hi = shard_bounds(n_total, shard)
    processed = leaves
    if order is not None:
        order = np.asarray(order)
        if not (
            order.shape == (n_total,)
            and np.issubdtype(order.dtype, np.integer)
            and np.all(order >= 0)
            and np.all(np.bincount(order, minlength=n_total) == 1)
        ):
            raise ValueError(f"`order` must be a permutation of range({n_total}).")
        processed = [leaf[order] for leaf in leaves]
        # position[e]: where element e is processed; this shard's elements, ascending.
        position = np.empty(n_total, np.int64)
        position[order] = np.arange(n_total)
        index = np.flatnonzero((position >= lo) & (position < hi))
        rows = position[index] - lo
    else:
        index, rows = np.arange(lo, hi), slice(None)
    n = hi - lo
    chunk = min(chunk_size, max(n, 1))
    chunk = -(-chunk // n_dev) * n_dev
    n_chunks = -(-n // chunk)
    parameters = to_jsonable(dict(metadata or {}))
    identity = dict(
        fn=getattr(fn, "__qualname__", type(fn).__name__),
        parameters=parameters,
        n=int(n_total),
        shard=None if shard is None else list(shard),
        chunk_size=int(chunk_size),
        devices=n_dev,
        strategy=strategy,
        batched=bool(batched),
        inputs_sha256={
            k: digest([v])
            for k, v in _flatten_named(jtu.tree_unflatten(treedef, leaves), "input").items()
        },
        order_sha256=None if order is None else digest([order]),
        version=__version__,
    )

    # Many processes (`fourierflow.distributed`): the mesh spans every process's devices, each
    # process feeds and computes its slice of every chunk, and all gather the results; only
    # process 0 writes.
    multi = jax.process_count() > 1
    writer = jax.process_index() == 0

    def put(a, b):
        # Pad by repeating the chunk's first element: a valid input, so padding cannot fail.
        block = [leaf[lo + a : lo + b] for leaf in processed]
        if b - a < chunk:
            block = [np.concatenate([x, np.repeat(x[:1], chunk - (b - a), axis=0)]) for x in block]
        if multi:
            block = [
                jax.make_array_from_callback(x.shape, sharding, lambda i, x=x: x[i]) for x in block
            ]
        else:
            block = [jax.device_put(x, sharding) for x in block]
        return jtu.tree_unflatten(treedef, block)

    def host(tree):
        if not multi:
            return jtu.tree_map(np.asarray, tree)
        from jax.experimental import multihost_utils

        return jtu.tree_map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))

    def agreed(flag: bool) -> bool:
        """Process 0's decision, for every process (they must take the same branches)."""
        if not multi:
            return flag
        from jax.experimental import multihost_utils

        return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag)))

    from tqdm.auto import tqdm

    with streaming(out, identity, resume, writer) as store:
        complete = store is not None and writer and store.open(resume)
        if agreed(complete):
            return SweepResult.load(store.folder / RESULT)
        outs, outcomes = [None] * n_chunks, [None] * n_chunks
        treedef_out = None

        def fetch(c, result, m):
            nonlocal treedef_out
            values, outcome = host(result)
            leaves_out, treedef_out = jtu.tree_flatten(values)
            outs[c] = [v[:m] for v in leaves_out]
            outcomes[c] = take(as_numpy(outcome), slice(0, m))
            if store is not None and writer:
                store.save(c, outs[c], outcomes[c])

        pending = None
        bounds = [(c * chunk, min((c + 1) * chunk, n)) for c in range(n_chunks)]
        show = progress and writer
        with tqdm(total=n_chunks, disable=not show, desc="sweep", unit="chunk") as bar:
            for c, (a, b) in enumerate(bounds):
                loaded = None
                if store is not None and agreed(writer and store.load(c) is not None):
                    loaded = store.load(c)
                    if loaded is None:
                        raise RuntimeError(
                            f"process {jax.process_index()} cannot read chunk {c} in "
                            f"{store.folder}: resuming a multi-process sweep needs its folder "
                            "on a filesystem every process sees."
                        )
                if loaded is not None:
                    outs[c], outcomes[c] = loaded
                    bar.update()
                    continue
                # Dispatch this chunk before fetching the previous one: the device keeps busy.
                result = _run_chunk(fn, bool(batched), mesh, strategy, key_impls, put(a, b))
                if pending is not None:
                    fetch(*pending)
                    bar.update()
                pending = (c, result, b - a)
            if pending is not None:
                fetch(*pending)
                bar.update()

        # The output structure, from a trace (the chunks may all have come from disk).
        example = _wrap_keys(jtu.tree_unflatten(treedef, [x[:1] for x in processed]), key_impls)
        shapes = jax.eval_shape(fn if batched else jax.vmap(fn), example)[0]
        treedef_out = jtu.tree_structure(shapes)
        if n_chunks:
            flat = [np.concatenate(parts) for parts in zip(*outs, strict=True)]
            outcome = concatenate(outcomes)
        else:  # an empty shard
            flat = [np.zeros((0,) + s.shape[1:], s.dtype) for s in jtu.tree_leaves(shapes)]
            outcome = as_numpy(full((0,), Outcome.successful))
        # Back to element order (a no-op without `order`).
        outputs = jtu.tree_map(lambda v: v[rows], jtu.tree_unflatten(treedef_out, flat))
        outcome = take(outcome, rows)
        stored = jtu.tree_unflatten(treedef, leaves)  # element order; keys as their data
        inputs_named = {k: v[index] for k, v in _flatten_named(stored, "input").items()}
        meta = run_metadata()
        meta |= {
            "identity": identity,
            "arguments": dict(parameters, shard=identity["shard"], n_total=int(n_total)),
            "seed": parameters.get("seed"),
            "devices": [str(d) for d in devices],
            "platform": devices[0].platform,
            "dims": {k: list(v) for k, v in (dims or {}).items()},
        }
        result = SweepResult(
            inputs=inputs_named,
            outputs=_flatten_named(outputs, "output"),
            outcome=outcome,
            index=index,
            metadata_json=json.dumps(meta),
        )
        if store is not None and writer:
            store.finish(result)
        return result
