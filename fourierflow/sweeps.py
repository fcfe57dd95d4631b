"""Vmapped, chunked, device-sharded sweeps over many initial states (issue 4, SPEC 8-10).

One mechanism, `sweep`, applies a per-element function to a batch of inputs under `vmap`, in
chunks of bounded memory, sharded over a 1-D mesh of devices (`jax.shard_map`), and collects
the outputs with a per-element status code, so that one failing element (a `D0 = pi` start,
a blow-up, a solver that ran out of steps) is reported instead of spoiling the batch. The
results form a `SweepResult`, savable to `.npz` with a JSON metadata header, and shards of
one sweep run by independent processes (`shard=(i, N)`) merge back into the whole.

`sweep_alignment` and `sweep_lottery` are the convenience sweeps of the paper's Thm 5.3
(alignment times) and Lemma C.3 (the lottery among the frequencies of one neuron).
"""

import functools
import io
import json
import os
import zipfile
from collections.abc import Callable, Sequence
from typing import Any, Literal

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from . import reduced
from ._checks import check_choice, check_positive_int
from ._io import run_metadata, to_jsonable, write_atomic
from ._types import Array, ArrayLike, Float, Int

_AXIS = "sweep"
_METADATA_KEY = "__metadata__.json"

# Status codes: Diffrax's own `RESULTS` codes (0 = successful), so that a solve's
# `sol.result` passes through unchanged; user functions may add codes >= 100.
STATUS_SUCCESSFUL = 0
STATUS_NONFINITE = int(dfx.RESULTS.nonfinite._value)


def _diffrax_status_names() -> dict[int, str]:
    names = {}
    for name in dfx.RESULTS._name_to_item:
        names[int(getattr(dfx.RESULTS, name)._value)] = name
    return names


def status_names(extra: dict[int, str] | None = None) -> dict[int, str]:
    """The meaning of every status code a sweep may report.

    **Arguments:**

    - `extra`: codes (>= 100) that a per-element function defines itself, with their names.

    **Returns:**

    A dict from code to name: Diffrax's `RESULTS` (0 `successful`, 1 `max_steps_reached`,
    9 `nonfinite`, ...) updated with `extra`.
    """
    names = _diffrax_status_names()
    if extra:
        for code, name in extra.items():
            if int(code) < 100:
                raise ValueError(f"`status_names` codes must be >= 100; got code={code!r}.")
            names[int(code)] = str(name)
    return names


def _as_status(status) -> Array:
    # A Diffrax `RESULTS` item is an `equinox` enumeration item wrapping an int32 array.
    value = getattr(status, "_value", status)
    return jnp.asarray(value).astype(jnp.int32)


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
    """The contiguous range `[lo, hi)` of the processing order (the elements themselves unless
    `sweep` is given an `order`) that shard `(i, N)` of an `n`-element sweep holds (`[0, n)`
    for `None`); the shards of `N` partition `[0, n)`."""
    if shard is None:
        return 0, n
    i, N = shard
    return i * n // N, (i + 1) * n // N


class SweepResult(eqx.Module):
    """The results of a sweep: inputs, outputs and a status code per element (NumPy arrays).

    **Fields:**

    - `inputs`: dict from input name to an array with leading axis `n`.
    - `outputs`: dict from output name to an array with leading axis `n`.
    - `status`: `(n,)` int32; 0 = successful, otherwise a Diffrax `RESULTS` code (e.g. 1
      `max_steps_reached`, 9 `nonfinite`) or a code >= 100 of the per-element function; see
      `status_names` and `SweepResult.describe`.
    - `index`: `(n,)` the elements' positions in the whole sweep, ascending (a shard holds a
      slice of the processing order, `shard_bounds`).
    - `metadata_json`: the JSON metadata (versions, arguments, seed, devices, status names).
    """

    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    status: np.ndarray
    index: np.ndarray
    metadata_json: str = eqx.field(static=True, default="{}")

    def __check_init__(self):
        n = self.status.shape[0]
        if self.status.shape != (n,) or self.index.shape != (n,):
            raise ValueError("`status` and `index` must be 1-D of the same length.")
        for group, arrays in (("inputs", self.inputs), ("outputs", self.outputs)):
            for name, value in arrays.items():
                if np.shape(value)[:1] != (n,):
                    raise ValueError(
                        f"{group}[{name!r}] must have leading axis {n}; got {np.shape(value)}."
                    )

    @property
    def n(self) -> int:
        """The number of elements."""
        return int(self.status.shape[0])

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the successful elements."""
        return self.status == STATUS_SUCCESSFUL

    @property
    def metadata(self) -> dict:
        """The metadata as a dict."""
        return json.loads(self.metadata_json)

    def __getitem__(self, name: str) -> np.ndarray:
        """An input or output array by name (outputs first)."""
        if name in self.outputs:
            return self.outputs[name]
        if name in self.inputs:
            return self.inputs[name]
        if name == "status":
            return self.status
        raise KeyError(f"no input or output named {name!r}; have {self.names}.")

    @property
    def names(self) -> list[str]:
        """All input and output names."""
        return list(self.inputs) + list(self.outputs)

    def describe(self) -> dict[str, int]:
        """Counts of elements per status name (e.g. `{"successful": 99, "nonfinite": 1}`)."""
        names = {int(k): v for k, v in self.metadata.get("status_names", {}).items()}
        names = names or _diffrax_status_names()
        codes, counts = np.unique(self.status, return_counts=True)
        return {
            names.get(int(c), f"code {int(c)}"): int(m) for c, m in zip(codes, counts, strict=True)
        }

    def save(self, path: str | os.PathLike) -> str:
        """Write to `.npz` atomically (a temporary file in the same folder, then `os.replace`).

        The archive holds `inputs/<name>`, `outputs/<name>`, `status`, `index` and the JSON
        metadata as its first member `__metadata__.json` (readable with any zip tool).

        **Arguments:**

        - `path`: the file name (`.npz` is appended if missing).

        **Returns:**

        The path written.
        """
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        arrays = {f"inputs/{k}": np.asarray(v) for k, v in self.inputs.items()}
        arrays |= {f"outputs/{k}": np.asarray(v) for k, v in self.outputs.items()}
        arrays |= {"status": np.asarray(self.status), "index": np.asarray(self.index)}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_METADATA_KEY, self.metadata_json)
            for name, value in arrays.items():
                member = io.BytesIO()
                np.lib.format.write_array(member, value, allow_pickle=False)
                zf.writestr(name + ".npy", member.getvalue())
        write_atomic(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SweepResult":
        """Read a `SweepResult` written by `save`.

        **Arguments:**

        - `path`: the `.npz` file.

        **Returns:**

        The `SweepResult`.
        """
        inputs, outputs = {}, {}
        with np.load(os.fspath(path), allow_pickle=False) as data:
            for key in data.files:
                if key.startswith("inputs/"):
                    inputs[key[len("inputs/") :]] = data[key]
                elif key.startswith("outputs/"):
                    outputs[key[len("outputs/") :]] = data[key]
            status, index = data["status"], data["index"]
        with zipfile.ZipFile(os.fspath(path)) as zf:
            metadata_json = zf.read(_METADATA_KEY).decode()
        return cls(inputs, outputs, status, index, metadata_json)

    @classmethod
    def merge(cls, results: Sequence["SweepResult"]) -> "SweepResult":
        """Merge shards of one sweep (e.g. from `--shard i/N` runs) into one result, in the
        order of the whole sweep.

        **Arguments:**

        - `results`: `SweepResult`s with the same input/output names and disjoint `index`.

        **Returns:**

        One `SweepResult`, sorted by `index`; its metadata lists the shards merged.
        """
        results = list(results)
        if not results:
            raise ValueError("`results` must hold at least one SweepResult.")
        first = results[0]
        for r in results[1:]:
            if set(r.inputs) != set(first.inputs) or set(r.outputs) != set(first.outputs):
                raise ValueError("cannot merge sweeps with different input/output names.")
        index = np.concatenate([r.index for r in results])
        order = np.argsort(index, kind="stable")
        if np.any(np.diff(index[order]) == 0):
            raise ValueError("cannot merge: some elements appear in more than one shard.")

        def cat(group):
            return {
                k: np.concatenate([getattr(r, group)[k] for r in results])[order]
                for k in getattr(first, group)
            }

        metadata = first.metadata
        metadata["merged_shards"] = [r.metadata.get("arguments", {}).get("shard") for r in results]
        if "arguments" in metadata:
            metadata["arguments"]["shard"] = None
        status = np.concatenate([r.status for r in results])[order]
        return cls(cat("inputs"), cat("outputs"), status, index[order], json.dumps(metadata))


def load_sweep(path: str | os.PathLike) -> SweepResult:
    """Read a `SweepResult` from `.npz`.

    **Arguments:**

    - `path`: a file written by `SweepResult.save`.

    **Returns:**

    The `SweepResult`.
    """
    return SweepResult.load(path)


def merge_sweeps(results: Sequence[SweepResult]) -> SweepResult:
    """Merge shards of one sweep (e.g. from `--shard i/N` runs) into one result.

    **Arguments:**

    - `results`: `SweepResult`s of the same sweep with disjoint elements.

    **Returns:**

    One `SweepResult` in the order of the whole sweep.
    """
    return SweepResult.merge(results)


# Elements per chunk by platform. On CPU the working set of a vmapped adaptive solve must stay
# in cache: 4096 reduced-ODE trajectories per chunk ran 4.6x faster than 65536 (issue 4
# benchmark, best of 3 on the shared 2-core machine: 31k/s vs 6.7k/s). Accelerators want
# large chunks to fill the device.
_DEFAULT_CHUNK = {"cpu": 4096}
_DEFAULT_CHUNK_ACCELERATOR = 65536


def default_chunk_size(platform: str) -> int:
    """The default elements per chunk of `sweep` on a platform (`"cpu"`, `"gpu"`, `"tpu"`).

    **Arguments:**

    - `platform`: a JAX platform name (`jax.devices()[0].platform`).

    **Returns:**

    4096 on CPU (cache-sized), 65536 on accelerators.
    """
    return _DEFAULT_CHUNK.get(platform, _DEFAULT_CHUNK_ACCELERATOR)


def _flag_nonfinite(out, status):
    """Per element: a "successful" element with non-finite outputs is a failure all the same."""
    status = _as_status(status)
    finite = jnp.ones(status.shape, bool)
    for leaf in jtu.tree_leaves(out):
        leaf = jnp.asarray(leaf)
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            finite = finite & jnp.all(jnp.isfinite(leaf.reshape(leaf.shape[0], -1)), axis=1)
    return out, jnp.where((status == STATUS_SUCCESSFUL) & ~finite, STATUS_NONFINITE, status)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _run_chunk(fn: Callable, batched: bool, mesh: Mesh, strategy: str, xs):
    def block(xs):
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
    extra_status_names: dict[int, str] | None = None,
    batched: bool = False,
    order: ArrayLike | None = None,
) -> SweepResult:
    """Apply a per-element function to every element of a batch, vmapped, in chunks of bounded
    memory, sharded over devices, with a status code per element.

    **Arguments:**

    - `fn`: `x -> (outputs, status)` for ONE element `x` (the structure of `inputs` without the
      leading axis); `outputs` is a pytree of arrays, `status` an int code (0 = successful) or a
      Diffrax `RESULTS` item (pass `sol.result` of a `throw=False` solve). An element whose
      status is 0 but whose outputs are not finite gets `nonfinite` (9). `fn` must be
      jittable; keep the same function object between calls to reuse its compilation.
      With `batched=True`, `fn` instead maps a block of elements (leading axis) to outputs
      and statuses with the same leading axis (for solvers that treat a batch as one system).
    - `inputs`: a dict (or any pytree) of arrays sharing a leading axis `n`.
    - `chunk_size`: elements per chunk (rounded up to a multiple of the device count); bounds
      the memory. Default `default_chunk_size(platform)`: 4096 on CPU, 65536 on GPU/TPU.
      Every chunk has this size (the last is padded), so there is one compilation.
    - `devices`: the devices of the 1-D mesh (default all of `jax.devices()`).
    - `progress`: show a tqdm bar over chunks.
    - `shard`: `None`, or `(i, N)` / `"i/N"`: compute only the i-th of N contiguous slices
      (for independent processes on many hosts; `merge_sweeps` joins them).
    - `strategy`: `"shard_map"` (`jax.shard_map` over the mesh) or `"jit"` (jit with a
      `NamedSharding`; the fallback).
    - `metadata`: JSON-able facts to record (arguments, `seed`, ...).
    - `extra_status_names`: names of the status codes >= 100 that `fn` defines.
    - `batched`: `fn` takes a block of elements (see `fn`) instead of one, and is not vmapped.
    - `order`: optional permutation of `range(n)`: the order in which elements are put into
      chunks (and shards). An adaptive solve steps a chunk until its slowest element is done,
      so ordering by expected cost makes chunks homogeneous and faster. Results are returned
      by element, sorted by `index`, whatever the order.

    **Returns:**

    A `SweepResult` with the inputs (flattened to a dict by path), the outputs, `status` and
    the elements' global `index`.
    """
    if not callable(fn):
        raise TypeError(f"`fn` must be callable; got {type(fn).__name__}.")
    check_choice(strategy, "strategy", ("shard_map", "jit"))
    shard = parse_shard(shard)
    names = status_names(extra_status_names)
    leaves = jtu.tree_leaves(inputs)
    if not leaves:
        raise ValueError("`inputs` must hold at least one array.")
    leaves = [np.asarray(leaf) for leaf in leaves]
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
    if order is not None:
        order = np.asarray(order)
        if not (
            order.shape == (n_total,)
            and np.issubdtype(order.dtype, np.integer)
            and np.all(order >= 0)
            and np.all(np.bincount(order, minlength=n_total) == 1)
        ):
            raise ValueError(f"`order` must be a permutation of range({n_total}).")
        leaves = [leaf[order] for leaf in leaves]
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

    def put(a, b):
        # Pad by repeating the chunk's first element: a valid input, so padding cannot fail.
        block = [leaf[lo + a : lo + b] for leaf in leaves]
        if b - a < chunk:
            block = [np.concatenate([x, np.repeat(x[:1], chunk - (b - a), axis=0)]) for x in block]
        return jtu.tree_unflatten(treedef, [jax.device_put(x, sharding) for x in block])

    from tqdm.auto import tqdm

    outs, stats = [], []
    pending = None
    bounds = [(c * chunk, min((c + 1) * chunk, n)) for c in range(n_chunks)]
    with tqdm(total=n_chunks, disable=not progress, desc="sweep", unit="chunk") as bar:
        for a, b in bounds:
            # Dispatch this chunk before fetching the previous one: the device keeps busy.
            result = _run_chunk(fn, bool(batched), mesh, strategy, put(a, b))
            if pending is not None:
                outs.append(jtu.tree_map(np.asarray, pending[0][0]))
                stats.append(np.asarray(pending[0][1])[: pending[1]])
                outs[-1] = jtu.tree_map(lambda v, m=pending[1]: v[:m], outs[-1])
                bar.update()
            pending = (result, b - a)
        if pending is not None:
            out_np = jtu.tree_map(lambda v, m=pending[1]: np.asarray(v)[:m], pending[0][0])
            outs.append(out_np)
            stats.append(np.asarray(pending[0][1])[: pending[1]])
            bar.update()

    if outs:
        outputs = jtu.tree_map(lambda *xs: np.concatenate(xs), *outs)
        status = np.concatenate(stats).astype(np.int32)
    else:  # an empty shard: trace once to learn the output structure
        example = jtu.tree_unflatten(treedef, [leaf[:1] for leaf in leaves])
        shapes = jax.eval_shape(fn if batched else jax.vmap(fn), example)
        outputs = jtu.tree_map(lambda s: np.zeros((0,) + s.shape[1:], s.dtype), shapes[0])
        status = np.zeros((0,), np.int32)
    # Back to element order (a no-op without `order`).
    inputs_named = {k: np.asarray(v)[index] for k, v in _flatten_named(inputs, "input").items()}
    outputs = jtu.tree_map(lambda v: v[rows], outputs)
    status = status[rows]
    meta = run_metadata()
    meta |= {
        "arguments": {
            "fn": getattr(fn, "__qualname__", repr(fn)),
            "n_total": int(n_total),
            "chunk_size": int(chunk),
            "shard": None if shard is None else list(shard),
            "strategy": strategy,
            "batched": bool(batched),
        },
        "seed": None,
        "devices": [str(d) for d in devices],
        "platform": devices[0].platform,
        "status_names": {str(k): v for k, v in names.items()},
    }
    if metadata:
        metadata = to_jsonable(dict(metadata))
        meta["seed"] = metadata.pop("seed", None)
        meta["arguments"].update(metadata)
    return SweepResult(
        inputs=inputs_named,
        outputs=_flatten_named(outputs, "output"),
        status=status,
        index=index,
        metadata_json=json.dumps(meta),
    )


# ---------------------------------------------------------------------------------------------
# Convenience sweeps: alignment times (Thm 5.3) and the lottery (Lemma C.3, Cor 6.1).
# ---------------------------------------------------------------------------------------------

# Codes >= 100 of the convenience sweeps (the reduced solver's own codes, shifted).
STATUS_NEVER_ALIGNS = 100
STATUS_MAGNITUDE_GUARD = 101
STATUS_SOLVER_FAILED = 102
REDUCED_STATUS_NAMES = {
    STATUS_NEVER_ALIGNS: "never_aligns (D0 = pi mod 2pi, the unstable fixed point)",
    STATUS_MAGNITUDE_GUARD: "magnitude_guard (blow-up before the event / the last time)",
    STATUS_SOLVER_FAILED: "solver_failed (diffrax failure, e.g. max_steps)",
}
# A reference modulus: the reduced solvers integrate in the scaled time `tau = r beta0 t`, so
# `p` enters only through `t = tau / (r beta0)`; solving once at `_P_REF` and rescaling by
# `r_ref / r` is the same computation with `p` a traced per-element value (one compilation
# for every p of a sweep instead of one per p).
_P_REF = 3


def _reduced_status(code):
    code = jnp.asarray(code)
    return jnp.select(
        [
            code == reduced.NEVER_ALIGNS,
            code == reduced.MAGNITUDE_GUARD,
            code == reduced.SOLVER_FAILED,
        ],
        [STATUS_NEVER_ALIGNS, STATUS_MAGNITUDE_GUARD, STATUS_SOLVER_FAILED],
        STATUS_SUCCESSFUL,
    ).astype(jnp.int32)


def _rate_ratio(p, reduction):
    """`r(p_ref) / r(p)`: multiply a time computed at `_P_REF` by this to get it at `p`."""
    p = jnp.asarray(p, dtype=float)
    return _P_REF / p if reduction == "sum" else p / _P_REF


def _scaled_time(t, kappa, p, reduction):
    """`r kappa t`: `p kappa t` ("sum") or `kappa t / p` ("mean"), the collapse variable."""
    p = jnp.asarray(p, dtype=float)
    return (p if reduction == "sum" else 1 / p) * kappa * t


@functools.cache
def _alignment_block(method, reduction, rtol, atol, max_steps, with_phases, shared_steps):
    """The batched function of `sweep_alignment`: a block of elements to outputs, status."""

    def block(x):
        kappa, D0, delta, p = x["kappa"], x["D0"], x["delta"], x["p"]
        ratio = _rate_ratio(p, reduction)
        if method == "closed_form":
            t_ref = reduced.alignment_time_closed_form(
                kappa, kappa, D0, _P_REF, delta, reduction=reduction
            )
            t = t_ref * ratio
            status = jnp.where(jnp.isinf(t), STATUS_NEVER_ALIGNS, STATUS_SUCCESSFUL)
            return {"t_delta": t, "tau": _scaled_time(t, kappa, p, reduction)}, status
        res = reduced.solve_alignment(
            kappa,
            kappa,
            D0,
            _P_REF,
            delta,
            reduction=reduction,
            phases=(x["phi0"], x["psi0"]) if with_phases else None,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
            throw=False,
            chunk_size=None,
            shared_steps=shared_steps,
        )
        t = res.t * ratio
        out = {
            "t_delta": t,
            "tau": _scaled_time(t, kappa, p, reduction),
            "beta": res.beta,
            "alpha": res.alpha,
            "D": res.D,
            "num_steps": res.num_steps,
        }
        if with_phases:
            out["phi"], out["psi"] = res.phi, res.psi
        return out, _reduced_status(res.status)

    block.__qualname__ = f"alignment_block[{method}]"
    return block


def _alignment_chunk(method, devices):
    """Default chunk of `sweep_alignment`: the closed form is straight-line code, so large
    chunks amortise the per-chunk dispatch (7e5/s at 4096 vs 1.4e6/s unchunked on CPU);
    the ODE's shared-step solves want `reduced.alignment_chunk_size` per device."""
    if method == "closed_form":
        return 1 << 16
    devices = jax.devices() if devices is None else list(devices)
    return reduced.alignment_chunk_size(devices[0].platform) * len(devices)


@jax.jit
def _span_bucket(D0, delta):
    return jnp.minimum(4 * reduced._alignment_span(D0, delta, jnp), 255).astype(jnp.uint8)


def _order_by_span(D0, delta):
    """A processing order that groups the span of the solves in ell to 1/4 (their cost): ODE
    blocks step until their longest solve is done. A stable radix sort of a byte: O(n)."""
    return np.argsort(np.asarray(_span_bucket(D0, delta)), kind="stable")


def _as_1d(name, value, n=None):
    arr = np.asarray(value)
    if arr.ndim > 1:
        raise ValueError(f"`{name}` must be a scalar or 1-D; got shape {arr.shape}.")
    return arr


def sweep_alignment(
    D0: Float[ArrayLike, " n"],
    kappa: Float[ArrayLike, " n"],
    p: Int[ArrayLike, " n"],
    delta: Float[ArrayLike, " n"],
    *,
    reduction: Literal["sum", "mean"] = "sum",
    method: Literal["ode", "closed_form"] = "ode",
    phases: tuple[Float[ArrayLike, " n"], Float[ArrayLike, " n"]] | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_steps: int = 4096,
    shared_steps: bool = True,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = True,
    shard: str | tuple[int, int] | None = None,
    seed: int | None = None,
) -> SweepResult:
    """Alignment times `t_delta` (SPEC 8, Thm 5.3) of many single-frequency trajectories
    started at `alpha0 = beta0 = kappa`, as one sweep.

    **Arguments:**

    - `D0`: initial phase differences (any real, mod 2pi); `kappa`: initial magnitudes (> 0);
      `p`: moduli (odd integers >= 3, per element); `delta`: tolerances in (0, 1). Scalars
      and 1-D arrays broadcast together.
    - `reduction`: `"sum"` (rate `p`) or `"mean"` (rate `1/p`).
    - `method`: `"ode"` (`fourierflow.solve_alignment`: a Diffrax solve that ends exactly at
      the alignment event, one system per device block; it also gives the state at alignment)
      or `"closed_form"` (the jittable elliptic-integral form of SPEC 10, times only).
    - `phases`: optional initial `(phi0, psi0)` (method `"ode"`): also return the phases at
      `t_delta` (the mean-field claim of Thm 5.3).
    - `rtol`, `atol`, `max_steps`, `shared_steps`: the ODE solver's options (see
      `solve_alignment`; with shared steps results depend on the block's other elements at the
      level of `rtol`; `shared_steps=False` makes each element independent of the others).
      The ODE's elements are put into chunks in order of their span in `ell` (its cost).
    - `chunk_size`, `devices`, `progress`, `shard`: as `sweep` (default chunk: 65536 for the
      closed form; for the ODE `alignment_chunk_size` per device: 4096 on CPU, 262144 on
      accelerators); `seed`: recorded in metadata.

    **Returns:**

    A `SweepResult` with inputs `D0, kappa, p, delta` (and `phi0, psi0`) and outputs
    `t_delta`, `tau = r kappa t_delta` (`p kappa t_delta` for "sum"), and for `"ode"` the state
    `alpha, beta, D` at alignment and `num_steps` (and `phi, psi`). Status 100 (`never_aligns`)
    for `D0 = pi`, 102 (`solver_failed`).
    """
    check_choice(reduction, "reduction", ("sum", "mean"))
    check_choice(method, "method", ("ode", "closed_form"))
    if phases is not None and method != "ode":
        raise ValueError("`phases` needs method='ode'.")
    arrays = [_as_1d(n, v) for n, v in (("D0", D0), ("kappa", kappa), ("p", p), ("delta", delta))]
    if phases is not None:
        arrays += [_as_1d("phi0", phases[0]), _as_1d("psi0", phases[1])]
    arrays = np.broadcast_arrays(*arrays)
    D0, kappa, p, delta = (np.asarray(a, dtype=float) for a in arrays[:4])
    if not np.all(np.isfinite(D0)):
        raise ValueError("`D0` must be finite (any real, taken mod 2pi).")
    if phases is not None:
        gap = np.angle(np.exp(1j * (2 * np.asarray(arrays[4], float) - arrays[5] - D0)))
        if not np.all(np.abs(gap) <= 1e-9):
            raise ValueError("`phases` (phi0, psi0) must satisfy D0 = 2 phi0 - psi0 (mod 2pi).")
    if not np.all(np.isfinite(kappa) & (kappa > 0)):
        raise ValueError("`kappa` must be finite and > 0.")
    if not np.all((p == np.round(p)) & (p >= 3) & (np.round(p) % 2 == 1)):
        raise ValueError("`p` must hold odd integers >= 3.")
    if not np.all((delta > 0) & (delta < 1)):
        raise ValueError("`delta` must lie in (0, 1).")
    if not (rtol > 0 and atol > 0):
        raise ValueError(f"`rtol`, `atol` must be > 0; got rtol={rtol!r}, atol={atol!r}.")
    max_steps = check_positive_int(max_steps, "max_steps")
    inputs = {"D0": D0, "kappa": kappa, "p": p.astype(np.int64), "delta": delta}
    if phases is not None:
        inputs |= {"phi0": np.asarray(arrays[4], float), "psi0": np.asarray(arrays[5], float)}
    fn = _alignment_block(
        method, reduction, float(rtol), float(atol), max_steps, phases is not None, shared_steps
    )
    order = None if method == "closed_form" else _order_by_span(D0, delta)
    metadata = {
        "sweep": "alignment",
        "reduction": reduction,
        "method": method,
        "rtol": rtol,
        "atol": atol,
        "max_steps": max_steps,
        "shared_steps": bool(shared_steps),
        "seed": seed,
    }
    return sweep(
        fn,
        inputs,
        chunk_size=chunk_size or _alignment_chunk(method, devices),
        batched=True,
        order=order,
        devices=devices,
        progress=progress,
        shard=shard,
        metadata=metadata,
        extra_status_names=REDUCED_STATUS_NAMES,
    )


@functools.cache
def _lottery_element(p, ts, reduction, rtol, atol, max_steps):
    from ._fourier import misalignment

    ts = jnp.asarray(ts)

    def element(x):
        D0 = x["D0"]
        sol = reduced.solve_reduced(
            x["alpha0"],
            x["beta0"],
            D0,
            p,
            ts,
            reduction=reduction,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
            throw=False,
            full_output=True,
        )
        B0 = misalignment(D0)
        out = {
            "alpha": sol.alpha,
            "beta": sol.beta,
            "B": misalignment(sol.D),
            "winner": jnp.argmax(sol.beta[:, -1]) + 1,
            "argmin_B0": jnp.argmin(B0) + 1,
        }
        status = jnp.max(_reduced_status(sol.status))
        return out, status

    element.__qualname__ = "lottery_element"
    return element


def sweep_lottery(
    D0: Float[ArrayLike, "n K"],
    p: int,
    ts: Float[ArrayLike, " times"],
    *,
    kappa: Float[ArrayLike, " n"] | None = None,
    alpha0: Float[ArrayLike, "n K"] | None = None,
    beta0: Float[ArrayLike, "n K"] | None = None,
    reduction: Literal["sum", "mean"] = "sum",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 4096,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = True,
    shard: str | tuple[int, int] | None = None,
    seed: int | None = None,
) -> SweepResult:
    """The lottery among the frequencies of multi-frequency neurons (Lemma C.3, Cor 6.1): every
    (neuron, frequency) follows its own reduced ODE (SPEC 7-8: the main flow decouples them).

    **Arguments:**

    - `D0`: `(n, K)` initial phase differences of `n` neurons at their `K` frequencies.
    - `p`: the modulus (odd, >= 3); `ts`: 1-D save times (before the winners' blow-up).
    - `kappa`: `(n,)` or scalar, for `multi_frequency(kappa)` (`alpha0 = beta0 = kappa`);
      or give `alpha0`, `beta0` `(n, K)` magnitudes (e.g. from a Gaussian initialization).
    - `reduction`, `rtol`, `atol`, `max_steps`: the reduced solver's options.
    - `chunk_size` (neurons per chunk), `devices`, `progress`, `shard`: as `sweep`.
    - `seed`: recorded in the metadata.

    **Returns:**

    A `SweepResult` with outputs `alpha, beta, B` `(n, K, T)` (B the misalignment), `winner`
    (the frequency 1..K of largest `beta` at `ts[-1]`) and `argmin_B0` (Lemma C.3's predicted
    winner). Status 101 (`magnitude_guard`) if some frequency blew up before `ts[-1]`.
    """
    from ._fourier import num_frequencies

    check_choice(reduction, "reduction", ("sum", "mean"))
    K = num_frequencies(p)
    D0 = np.asarray(D0, dtype=float)
    if D0.ndim != 2 or D0.shape[1] != K:
        raise ValueError(f"`D0` must have shape (n, K={K}); got {D0.shape}.")
    if not np.all(np.isfinite(D0)):
        raise ValueError("`D0` must be finite.")
    if (kappa is None) == (alpha0 is None and beta0 is None):
        raise ValueError("give either `kappa` or both `alpha0` and `beta0`.")
    if kappa is not None:
        kappa = np.broadcast_to(np.asarray(kappa, dtype=float), D0.shape[:1])
        alpha0 = beta0 = np.broadcast_to(kappa[:, None], D0.shape)
    alpha0 = np.broadcast_to(np.asarray(alpha0, dtype=float), D0.shape)
    beta0 = np.broadcast_to(np.asarray(beta0, dtype=float), D0.shape)
    for name, v in (("alpha0", alpha0), ("beta0", beta0)):
        if not np.all(np.isfinite(v) & (v > 0)):
            raise ValueError(f"`{name}` (or `kappa`) must be finite and > 0.")
    ts_np = np.asarray(ts, dtype=float)
    if ts_np.ndim != 1 or ts_np.size < 1 or np.any(np.diff(ts_np) < 0) or np.any(ts_np < 0):
        raise ValueError("`ts` must be a non-empty, non-decreasing 1-D array of times >= 0.")
    max_steps = check_positive_int(max_steps, "max_steps")
    fn = _lottery_element(
        int(p), tuple(ts_np.tolist()), reduction, float(rtol), float(atol), max_steps
    )
    inputs = {"D0": D0, "alpha0": np.array(alpha0), "beta0": np.array(beta0)}
    metadata = {
        "sweep": "lottery",
        "p": int(p),
        "ts": ts_np,
        "reduction": reduction,
        "rtol": rtol,
        "atol": atol,
        "seed": seed,
    }
    return sweep(
        fn,
        inputs,
        chunk_size=chunk_size,
        devices=devices,
        progress=progress,
        shard=shard,
        metadata=metadata,
        extra_status_names=REDUCED_STATUS_NAMES,
    )
