"""Ensembles of exact and main flows: many networks solved together, through `sweep`.

A batch of networks (a `TwoLayerNet` with a leading member axis, or a function that builds a
network from per-member inputs such as a PRNG key and a kappa) is solved by `solve_exact` or
`solve_main` under `vmap`, in chunks, sharded over devices, with an `Outcome` per member.
Members save low-dimensional statistics (`saveat`'s `fn`, by default `flow_statistics`: the
per-neuron, per-frequency magnitudes and phase differences and the loss) instead of whole
networks, so memory stays small; the result is a `SweepResult` that saves, loads and merges
like any other sweep. The event root find is vmap-safe: members that stop on an event and
members that do not are solved together, each as it would be alone.
"""

import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_choice
from ._chunking import ensemble_chunk_size
from ._events import AbstractEvent, Aligned, BlowUp, MagnitudeAbove, as_events
from ._flow_solve import solve_exact, solve_main
from ._flows import FlowArgs
from ._metrics import neuron_spectrum
from ._network import TwoLayerNet, folded_loss
from ._sweep import sweep
from ._sweep_result import SweepResult
from ._types import Array, ArrayLike, Float, Reduction

__all__ = ["flow_statistics", "solve_ensemble"]


def flow_statistics(t, net: TwoLayerNet, args: FlowArgs) -> dict[str, Float[Array, "..."]]:
    """Low-dimensional statistics of a network in a flow: a saving function for ensembles.

    **Arguments:**

    - `t`: the time (unused).
    - `net`: the network (unbatched).
    - `args`: the flow's `FlowArgs` (its data and reduction, for the loss).

    **Returns:**

    `{"alpha", "beta", "D"}`: per neuron and frequency `(M, K)` (input/output magnitudes and
    the phase difference `2 phi - psi` in [0, 2pi)), and `"loss"`, the flow's loss.
    """
    del t
    s = neuron_spectrum(net)
    loss = folded_loss(net, args.pairs, args.reduction)
    return {"alpha": s["alpha"], "beta": s["beta"], "D": s["D"], "loss": loss}


_DIMS = {"alpha": ("neuron", "frequency"), "beta": ("neuron", "frequency")}
_DIMS |= {"D": ("neuron", "frequency"), "loss": ()}


_PER_MEMBER = "per member"  # `t1` comes with each member's inputs


@functools.lru_cache(maxsize=64)
def _member(flow, build, ts, t1, fn, event_types, reduction, solver, controller, max_steps,
            event_rtol):  # fmt: skip
    """The per-member function of `sweep`: build the network, solve, keep the statistics.

    Cached on its (hashable) configuration, so that calls that differ only in data (the
    members, event thresholds, per-member end times) reuse one compiled sweep. The events'
    thresholds travel in the inputs (`event/<Type>`)."""
    solve = solve_exact if flow == "exact" else solve_main
    names = [t.__name__ for t in event_types]
    ts = None if ts is None else np.asarray(ts)

    def member(x):
        net = build(x)
        end = x["t1"] if t1 == _PER_MEMBER else t1
        saveat = dfx.SaveAt(ts=ts, fn=fn) if ts is not None else dfx.SaveAt(t1=True, fn=fn)
        events = [t(x[f"event/{n}"]) for t, n in zip(event_types, names, strict=True)]
        sol = solve(
            net,
            reduction=reduction,
            t1=end,
            saveat=saveat,
            event=events or None,
            solver=solver,
            stepsize_controller=controller,
            max_steps=max_steps,
            event_rtol=event_rtol,
            throw=False,
        )
        out = {"stat": sol.ys, "t_stop": sol.t_stop, "num_steps": sol.stats["num_steps"]}
        out["t_event"] = {
            name: jnp.where(mask, sol.t_stop, jnp.inf)
            for name, mask in zip(names, sol.event_mask, strict=True)
        }
        return out, sol.result

    member.__qualname__ = f"ensemble_member[{flow}]"
    return member


@functools.lru_cache(maxsize=16)
def _from_weights(activation):
    def build(x):
        return TwoLayerNet(x["theta"], x["xi"], activation, x.get("embedding"))

    return build


def solve_ensemble(
    nets: TwoLayerNet | None = None,
    ts: Float[ArrayLike, " T"] | None = None,
    *,
    init: Callable[[Any], TwoLayerNet] | None = None,
    inputs: dict[str, ArrayLike] | None = None,
    flow: Literal["exact", "main"] = "exact",
    t1: float | None = None,
    statistics: Callable = flow_statistics,
    event: AbstractEvent | Sequence[AbstractEvent] | None = BlowUp(1e6),
    reduction: Reduction = "sum",
    solver: dfx.AbstractSolver | None = None,
    stepsize_controller: dfx.AbstractStepSizeController | None = None,
    max_steps: int = 100_000,
    event_rtol: float = 1e-12,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = True,
    shard: str | tuple[int, int] | None = None,
    out: str | None = None,
    resume: bool = False,
    metadata: dict | None = None,
) -> SweepResult:
    """Solve the exact (or main) flow of many networks together: an ensemble.

    Each member is solved as `solve_exact(net, ...)` (or `solve_main`) would solve it alone,
    with `throw=False`, and saves `statistics(t, net, args)` at `ts` (or at its stop). The
    members run as one vmapped, chunked, device-sharded program (`fourierflow.sweep`).

    **Arguments:**

    - `nets`: the members, a `TwoLayerNet` whose `theta`, `xi` have a leading member axis;
      or give `init` and `inputs` instead.
    - `ts`: save times (shared by the members); `None` saves only at each member's stop.
    - `init`: `x -> TwoLayerNet` building one member from its inputs `x` (e.g.
      `lambda x: fourierflow.init_multi_frequency(x["key"], 23, 64, x["kappa"])`).
    - `inputs`: with `init`, a dict of arrays with a leading member axis (PRNG keys allowed).
    - `flow`: `"exact"` (`solve_exact`) or `"main"` (`solve_main`).
    - `t1`: the end time (default: the last save time; with only events, `inf`); an array
      with one entry per member gives each member its own end time.
    - `statistics`: the saving function `fn(t, net, args)` (default `flow_statistics`).
    - `event`: as in `solve_exact` (shared by the members).
    - `reduction`, `solver`, `stepsize_controller`, `max_steps`, `event_rtol`: as in
      `solve_exact`.
    - `chunk_size`: members per chunk (default `ensemble_chunk_size`: on a CPU as many as
      keep a chunk's working set in cache, on an accelerator up to 1 GiB per intermediate).
    - `devices`, `progress`, `shard`, `out`, `resume`, `metadata`: as in `sweep`
      (`out` streams the members' results to a folder and `resume` continues it).

    **Returns:**

    A `SweepResult`: inputs (the members' weights, or `inputs`), outputs `stat/<name>` (the
    statistics, `(members, T, ...)`; with `flow_statistics`: `alpha`, `beta`, `D` per neuron
    and frequency and the `loss`), `t_stop`, `t_event/<EventType>` (where that event stopped
    the member, else `inf`) and `num_steps`; an `Outcome` per member.
    """
    check_choice(flow, "flow", ("exact", "main"))
    if (nets is None) == (init is None):
        raise ValueError("give the members as `nets` (a batched TwoLayerNet) or as `init` + "
                         "`inputs`, not both.")  # fmt: skip
    if nets is not None:
        if not isinstance(nets, TwoLayerNet):
            kind = type(nets).__name__
            raise TypeError(f"`nets` must be a fourierflow.TwoLayerNet; got {kind}.")
        if nets.xi.ndim != 3:
            raise ValueError(
                "`nets` must have one leading member axis: theta, xi of shape (members, M, p); "
                f"got xi.shape={nets.xi.shape}."
            )
        inputs = {"theta": nets.theta, "xi": nets.xi}
        if nets.embedding is not None:
            inputs["embedding"] = nets.embedding
        build = _from_weights(nets.activation)
    else:
        if not callable(init):
            raise TypeError(f"`init` must be callable; got {type(init).__name__}.")
        if not isinstance(inputs, dict) or not inputs:
            raise ValueError("`inputs` must be a non-empty dict of per-member arrays.")
        build = init
    events = as_events(event, (Aligned, MagnitudeAbove, BlowUp))
    if len({type(e) for e in events}) != len(events):
        raise ValueError("`event` must hold at most one event of each type.")
    n = len(jax.tree.leaves(inputs)[0])
    inputs = dict(inputs)
    for e in events:  # thresholds are data: one compiled sweep for any of them
        (threshold,) = jax.tree.leaves(e)
        inputs[f"event/{type(e).__name__}"] = np.broadcast_to(np.asarray(threshold), (n,))
    if chunk_size is None:  # members whose working set fits the cache (CPU) or memory
        shapes = jax.eval_shape(build, jax.tree.map(lambda a: a[0], dict(inputs)))
        platform = devices[0].platform if devices else None
        M, p = shapes.theta.shape
        chunk_size = ensemble_chunk_size(p, M, np.dtype(shapes.theta.dtype).itemsize, platform)
    if t1 is not None:  # end times are data too (one per member, or shared)
        inputs["t1"] = np.broadcast_to(np.asarray(t1, dtype=float), (n,))
        t1 = _PER_MEMBER
    ts = None if ts is None else tuple(np.asarray(ts, dtype=float).tolist())
    member = _member(
        flow, build, ts, t1, statistics, tuple(type(e) for e in events), reduction, solver,
        stepsize_controller, max_steps, event_rtol,
    )  # fmt: skip
    dims = {}
    if statistics is flow_statistics:
        dims = {f"stat/{k}": ("time", *v) for k, v in _DIMS.items()}
    metadata = dict(metadata or {}, ensemble=flow, reduction=reduction)
    return sweep(
        member,
        inputs,
        chunk_size=chunk_size,
        devices=devices,
        progress=progress,
        shard=shard,
        metadata=metadata,
        out=out,
        resume=resume,
        dims=dims,
    )
