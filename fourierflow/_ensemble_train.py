"""Ensembles of training runs: many seeds, initializations, splits and scalar hyperparameters
trained by ONE compiled program.

The members are stacked on a leading axis and the chunk of `log_every` steps that `train`
runs (`make_chunk` of the training module: the same `lax.scan`, loss, optimizer call and metrics) is
`jax.vmap`-ed over them and jitted once. What differs between members is data, not code:

- hyperparameters (learning rate, weight decay, ...) go through `optax.inject_hyperparams`,
  so each member's optimizer state carries its own values and one compiled update serves all;
- splits are folded per member (`fold_pairs`) and padded to one shape with rows of zero
  weight (a zero `count` adds an exact 0 to the loss and to every gradient).

Divergence is per member. After every chunk each member's weights are checked; a member whose
weights became non-finite is frozen at its last finite state by a select inside the compiled
chunk (an exact copy: the other members are untouched) and flagged `Outcome.nonfinite`; its
metrics from then on are NaN ("not recorded"), and the others continue.

A member equals its solo `train` run to rounding, not bit for bit in general: under `vmap`
the member's matmuls become one batched `dot_general` and its reductions (`logsumexp`, the
loss's weighted sum, the metrics) reductions over one axis of a batched array, which XLA
tiles, vectorizes and fuses differently, so sums are accumulated in another order (one ulp
per operation; relative differences of ~1e-15 per step in float64, growing like the
dynamics' sensitivity: ~1e-13 after a few hundred steps of the tests' small runs). Padding a
member's folded pairs (only when members have different splits) changes the order of its sums
in the same way.

Checkpoints are `train`'s (three files per step, checksums, a fingerprint, the two newest
kept, the folder locked while the ensemble runs): the state is the stacked iterates and
optimizer states with each member's last finite step and frozen flag, and the fingerprint
records the member count, every member's split and initial network and the optimizer's
initial state (hyperparameters included), so a resumed ensemble is bit-identical to an
uninterrupted one and another ensemble's checkpoint is refused.
"""

import contextlib
import functools
import hashlib
import inspect
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from ._data import FoldedPairs, Split, fold_pairs
from ._io import lock_folder, to_jsonable
from ._network import TwoLayerNet
from ._outcome import Outcome, full, where
from ._train import (
    METRICS,
    History,
    TrainResult,
    activation_name,
    cached_jit,
    check_run_arguments,
    evaluation_point,
    identity_point,
    leaves_digest,
    load_latest_checkpoint,
    make_chunk,
    metrics_on,
    save_checkpoint,
    structure_digest,
)
from ._types import Array, ArrayLike, Float, Int, Reduction


class EnsembleResult(eqx.Module):
    """The outcome of `train_ensemble`: a `TrainResult` with a leading member axis.

    **Fields:**

    - `net`: the members' networks after their last step (a `TwoLayerNet` whose `theta` and
      `xi` carry the member axis; for a schedule-free optimizer, the evaluation points).
    - `opt_state`: the members' Optax states (every leaf with the member axis).
    - `step`: `(members,)` the optimizer steps each member took (for a member with
      `result == Outcome.nonfinite`, its last step whose weights were finite).
    - `history`: a `History` whose fields are `(members, logs)`; a member's metrics after its
      last finite step are NaN (not recorded).
    - `result`: `(members,)` outcomes: `Outcome.successful`, or `Outcome.nonfinite` for a
      member whose weights became NaN or infinite (only with `throw=False`).
    - `iterate`: `None`, or for a schedule-free optimizer the raw iterates.
    - `snapshots`: `None`, or the networks at `snapshot_steps`, `(members, snaps, M, p)` (NaN
      after a member's last finite step).
    - `snapshot_steps`: `None`, or the steps of the snapshots.
    - `compile_time`, `run_time`, `run_cpu_time`: as in `TrainResult`, for the whole ensemble.
    """

    net: TwoLayerNet
    opt_state: Any
    step: Int[Array, " members"]
    history: History
    result: Outcome
    iterate: TwoLayerNet | None = None
    snapshots: TwoLayerNet | None = None
    snapshot_steps: Int[Array, " snaps"] | None = None
    compile_time: float = eqx.field(static=True, default=0.0)
    run_time: float = eqx.field(static=True, default=0.0)
    run_cpu_time: float = eqx.field(static=True, default=0.0)

    @property
    def members(self) -> int:
        """The number of members."""
        return int(self.step.shape[0])

    def member(self, i: int) -> TrainResult:
        """Member `i` as the `TrainResult` that `train` returns for it: its network, state,
        step and outcome, its history and snapshots up to its last step.

        **Arguments:**

        - `i`: the member's index, in `[0, members)`.

        **Returns:**

        A `TrainResult` (`compile_time`, `run_time` are the ensemble's).
        """
        if isinstance(i, bool) or not isinstance(i, int | np.integer):
            raise TypeError(f"`i` must be an int; got {type(i).__name__} {i!r}.")
        if not 0 <= i < self.members:
            raise ValueError(f"`i` must lie in [0, {self.members}); got i={i}.")
        take = functools.partial(jax.tree.map, lambda a: a[i])
        step = int(self.step[i])
        logs = int(np.sum(np.asarray(self.history.step[i]) <= step))
        history = jax.tree.map(lambda a: a[i, :logs], self.history)
        snapshots = snapshot_steps = None
        if self.snapshots is not None:
            n = int(np.sum(np.asarray(self.snapshot_steps) <= step))
            snapshots = jax.tree.map(lambda a: a[i, :n], self.snapshots)
            snapshot_steps = self.snapshot_steps[:n]
        return TrainResult(
            net=take(self.net),
            opt_state=take(self.opt_state),
            step=step,
            history=history,
            result=take(self.result),
            iterate=None if self.iterate is None else take(self.iterate),
            snapshots=snapshots,
            snapshot_steps=snapshot_steps,
            compile_time=self.compile_time,
            run_time=self.run_time,
            run_cpu_time=self.run_cpu_time,
        )


@functools.partial(jax.jit, static_argnums=2)
def _initial_metrics(nets, train_masks, reduction: str) -> dict:
    # One jitted function for every ensemble (compiled once per shape and activation).
    return jax.vmap(lambda net, mask: metrics_on(net, mask, reduction))(nets, train_masks)


def stack_nets(nets: Sequence[TwoLayerNet]) -> TwoLayerNet:
    """Stack unbatched networks on a leading member axis (the `nets0` of `train_ensemble`).

    **Arguments:**

    - `nets`: one or more `TwoLayerNet`s of one shape and activation.

    **Returns:**

    A `TwoLayerNet` whose `theta` and `xi` are `(members, M, p)`.
    """
    nets = list(nets)
    if not nets or not all(isinstance(n, TwoLayerNet) for n in nets):
        raise TypeError("`nets` must be a non-empty sequence of fourierflow.TwoLayerNet.")
    structures = {jax.tree.structure(n) for n in nets}
    shapes = {tuple(a.shape for a in jax.tree.leaves(n)) for n in nets}
    if len(structures) > 1 or len(shapes) > 1:
        raise ValueError(
            "`nets` must share their shapes, activation and embedding (one network structure); "
            f"got shapes {sorted(shapes)}."
        )
    return jax.tree.map(lambda *a: jnp.stack(a), *nets)


def train_ensemble(
    nets0: TwoLayerNet,
    optimizer: optax.GradientTransformation | Callable[..., optax.GradientTransformation],
    *,
    steps: int,
    hyperparameters: Mapping[str, Float[ArrayLike, " members"]] | None = None,
    splits: Split | Sequence[Split] | None = None,
    reduction: Reduction = "mean",
    log_every: int = 100,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    snapshot_every: int | None = None,
    progress: bool = True,
    throw: bool = True,
    fingerprint: dict | None = None,
) -> EnsembleResult:
    """Train an ensemble of networks at once: `train` for every member, in one compiled program.

    Member `i` starts from `nets0[i]` (the networks stacked on a leading axis, e.g. by
    `stack_nets` or `ensemble_setup`), trains on its split with its hyperparameters, and ends
    as its solo `train` run with the same arguments would (to rounding: see the module
    docstring). The chunk of `log_every` steps is `train`'s, `vmap`-ed over the members.

    **Arguments:**

    - `nets0`: a `TwoLayerNet` with a leading member axis (`theta`, `xi` of shape
      `(members, M, p)`).
    - `optimizer`: without `hyperparameters`, an `optax.GradientTransformation` shared by every
      member; with them, a factory `optimizer(**values) -> GradientTransformation` (e.g.
      `optax.adamw`, or `functools.partial(optax.adamw, b1=0.9, b2=0.98)`) that
      `optax.inject_hyperparams` wraps, so each member's state carries its own values.
    - `steps`: optimizer steps, a positive multiple of `log_every`.
    - `hyperparameters`: `None`, or a dict from keyword names of the factory to finite
      numbers, each a scalar (every member) or one per member (`(members,)`).
    - `splits`: `None` (full data for every member), one `fourierflow.Split` (every member),
      a `Split` whose `train` is `(members, p, p)`, or a sequence of `members` splits.
    - `reduction`, `log_every`, `checkpoint_dir`, `checkpoint_every`, `resume`,
      `snapshot_every`, `progress`, `fingerprint`: as in `train` (the checkpoints hold the
      whole ensemble).
    - `throw`: raise when a member's weights become non-finite; with `False`, freeze that
      member at its last finite state (the end of its last finite chunk) with
      `result = Outcome.nonfinite` and continue the others.

    **Returns:**

    An `EnsembleResult` (`.member(i)` is member `i` as a `TrainResult`).

    **Raises:**

    `ValueError`/`TypeError` on bad arguments (before anything compiles) and on a
    checkpoint of another run; `RuntimeError` if another run holds `checkpoint_dir`;
    `FloatingPointError` if a member's weights become non-finite and `throw=True`.
    """
    if not isinstance(nets0, TwoLayerNet):
        raise TypeError(
            f"`nets0` must be a fourierflow.TwoLayerNet with a leading member axis; got "
            f"{type(nets0).__name__}."
        )
    if nets0.theta.ndim != 3:
        raise ValueError(
            "`nets0` must have exactly one leading member axis (theta of shape (members, M, p)); "
            f"got theta.shape={nets0.theta.shape}."
        )
    members = int(nets0.theta.shape[0])
    if members < 1:
        raise ValueError("`nets0` must hold at least one member (theta.shape[0] >= 1).")
    steps, log_every = check_run_arguments(
        steps, log_every, reduction, checkpoint_dir, checkpoint_every, resume,
        snapshot_every, throw, fingerprint,
    )  # fmt: skip
    dtype = nets0.xi.dtype
    hyperparameters = _check_hyperparameters(optimizer, hyperparameters, members, dtype)
    masks = _member_masks(splits, members, nets0.p)

    lock = contextlib.nullcontext() if checkpoint_dir is None else lock_folder(checkpoint_dir)
    with lock:
        return _train_ensemble(
            nets0,
            optimizer,
            hyperparameters,
            masks,
            steps=steps,
            reduction=reduction,
            log_every=log_every,
            checkpoint_dir=None if checkpoint_dir is None else Path(checkpoint_dir),
            checkpoint_every=checkpoint_every,
            resume=resume,
            snapshot_every=snapshot_every,
            progress=progress,
            throw=throw,
            fingerprint=fingerprint,
        )


def _is_transformation(x) -> bool:
    return hasattr(x, "init") and hasattr(x, "update")


def _check_hyperparameters(optimizer, hyperparameters, members: int, dtype) -> dict | None:
    """`hyperparameters` as `(members,)` arrays of the networks' float dtype (`None` when the
    optimizer is a shared transformation)."""
    if hyperparameters is None:
        if not _is_transformation(optimizer):
            raise TypeError(
                "`optimizer` must be an optax.GradientTransformation (with `init` and "
                f"`update`), or a factory together with `hyperparameters`; got "
                f"{type(optimizer).__name__}."
            )
        return None
    if _is_transformation(optimizer) or not callable(optimizer):
        raise TypeError(
            "with `hyperparameters`, `optimizer` must be a factory of optax transformations "
            "(e.g. optax.adamw), whose keywords the hyperparameters are; got "
            f"{type(optimizer).__name__}."
        )
    if not isinstance(hyperparameters, Mapping) or not hyperparameters:
        raise TypeError(
            "`hyperparameters` must be a non-empty dict from the factory's keyword names to "
            f"numbers; got {hyperparameters!r}."
        )
    try:
        inspect.signature(optimizer).bind_partial(**hyperparameters)
    except TypeError as e:
        raise TypeError(
            f"`hyperparameters` {sorted(hyperparameters)} are not keywords of `optimizer` "
            f"({getattr(optimizer, '__name__', type(optimizer).__name__)}): {e}."
        ) from None
    out = {}
    for name, value in hyperparameters.items():
        try:
            a = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(
                f"`hyperparameters[{name!r}]` must be a number or one number per member; got "
                f"{value!r}."
            ) from None
        if a.ndim > 1 or (a.ndim == 1 and a.shape[0] != members):
            raise ValueError(
                f"`hyperparameters[{name!r}]` must be a scalar or have shape ({members},) (one "
                f"value per member); got shape {a.shape}."
            )
        if not np.all(np.isfinite(a)):
            raise ValueError(f"`hyperparameters[{name!r}]` must be finite; got {value!r}.")
        out[name] = jnp.asarray(np.broadcast_to(a, (members,)), dtype)
    return out


def _member_masks(splits, members: int, p: int) -> np.ndarray:
    """The members' train masks, `(members, p, p)` booleans, checked."""
    if splits is None:
        masks = np.ones((members, p, p), bool)
    elif isinstance(splits, Split):
        masks = np.asarray(splits.train, bool)
        if masks.ndim == 2:
            masks = np.broadcast_to(masks, (members,) + masks.shape)
    elif isinstance(splits, Sequence) and all(isinstance(s, Split) for s in splits):
        if len(splits) != members:
            raise ValueError(
                f"`splits` must hold one split per member ({members}); got {len(splits)}."
            )
        shapes = {np.shape(s.train) for s in splits}
        if len(shapes) > 1:
            raise ValueError(f"`splits` must all be for p={p}; got train shapes {sorted(shapes)}.")
        masks = np.stack([np.asarray(s.train, bool) for s in splits])
    else:
        raise TypeError(
            "`splits` must be None, a fourierflow.Split (unbatched, or with a leading member "
            f"axis) or a sequence of Splits; got {type(splits).__name__}."
        )
    if masks.shape != (members, p, p):
        raise ValueError(
            f"`splits` must be for p={p} with {members} members (train of shape ({p}, {p}) or "
            f"({members}, {p}, {p})); got train shape {masks.shape}."
        )
    empty = np.flatnonzero(~masks.reshape(members, -1).any(-1))
    if empty.size:
        raise ValueError(f"`splits`: members {empty.tolist()} have no train pairs.")
    return np.ascontiguousarray(masks)


def _stack_folds(masks: np.ndarray, dtype) -> FoldedPairs:
    """Every member's folded train pairs, padded to one count of rows with rows of weight 0
    (no padding when all members have the same number of folded pairs)."""
    folds = [fold_pairs(Split(m), dtype) for m in masks]
    n = max(f.z.shape[0] for f in folds)

    def pad(a):  # in NumPy: one transfer, no compilation per shape
        a = np.asarray(a)
        return np.concatenate([a, np.zeros((n - a.shape[0],) + a.shape[1:], a.dtype)])

    return FoldedPairs(
        *(
            jnp.asarray(np.stack([pad(getattr(f, k)) for f in folds]))
            for k in ("incidence", "z", "count")
        )
    )


def _ensemble_fingerprint(nets0, opt_state0, hyperparameters, masks, log_every, reduction, run):
    """Everything that must agree between an ensemble's checkpoint and the run resuming it."""
    packed = np.packbits(masks.reshape(masks.shape[0], -1), axis=-1)
    return dict(
        kind="ensemble",
        members=int(masks.shape[0]),
        p=nets0.p,
        width=nets0.width,
        activation=activation_name(nets0.activation),
        embedding=nets0.embedding is not None,
        dtype=str(nets0.xi.dtype),
        log_every=log_every,
        reduction=reduction,
        n_train=masks.reshape(masks.shape[0], -1).sum(-1).tolist(),
        train_hash=hashlib.sha256(packed.tobytes()).hexdigest(),
        hyperparameters=None
        if hyperparameters is None
        else {k: np.asarray(v).tolist() for k, v in hyperparameters.items()},
        run=None if run is None else json.loads(json.dumps(to_jsonable(run), allow_nan=False)),
        optimizer_structure=structure_digest(opt_state0),
        optimizer_init=leaves_digest(opt_state0),
        net0=leaves_digest(nets0),
    )


def _member_chunk(transform, reduction, log_every, evaluation_net) -> Callable:
    """`train`'s chunk for one member, whose new state is kept only if its weights are finite
    and it was not frozen before (an exact select: the member is otherwise untouched)."""
    solo_chunk = make_chunk(transform, reduction, log_every, evaluation_net)

    def member_chunk(params, opt_state, frozen, pairs, train_mask):
        new_params, new_state, new_net, metrics, finite = solo_chunk(
            params, opt_state, pairs, train_mask
        )
        keep = finite & ~frozen

        def select(new, old):
            return jax.tree.map(lambda a, b: jnp.where(keep, a, b), new, old)

        net = select(new_net, evaluation_net(params, opt_state))
        return select(new_params, params), select(new_state, opt_state), net, metrics, finite

    return member_chunk


def _train_ensemble(
    nets0,
    optimizer,
    hyperparameters,
    masks,
    *,
    steps,
    reduction,
    log_every,
    checkpoint_dir,
    checkpoint_every,
    resume,
    snapshot_every,
    progress,
    throw,
    fingerprint,
) -> EnsembleResult:
    dtype = nets0.xi.dtype
    members = masks.shape[0]
    pairs = _stack_folds(masks, dtype)
    train_masks = jnp.asarray(masks)
    if hyperparameters is None:
        transform = optax.with_extra_args_support(optimizer)
        opt_state0 = jax.vmap(transform.init)(nets0)
    else:
        injected = optax.inject_hyperparams(optimizer)
        # The update reads each member's values from its state; the values given to build it
        # only fix which keywords are injected.
        transform = injected(**{k: float(v[0]) for k, v in hyperparameters.items()})
        opt_state0 = jax.vmap(lambda h, net: injected(**h).init(net))(hyperparameters, nets0)
    evaluation_net = evaluation_point(opt_state0)
    names = None if hyperparameters is None else tuple(sorted(hyperparameters))
    chunk = cached_jit(
        ("ensemble", optimizer, names, reduction, log_every, evaluation_net),
        lambda: jax.jit(jax.vmap(_member_chunk(transform, reduction, log_every, evaluation_net))),
    )

    frozen0 = jnp.zeros(members, bool)
    member_step0 = jnp.zeros(members, jnp.asarray(0).dtype)
    template = (nets0, opt_state0, frozen0, member_step0)
    facts = _ensemble_fingerprint(
        nets0, opt_state0, hyperparameters, masks, log_every, reduction, fingerprint
    )
    loaded = load_latest_checkpoint(checkpoint_dir, template, facts) if resume else None
    if loaded is None:
        params, opt_state, frozen, member_step = template
        net, start, previous = nets0, 0, None
        records = [dict(step=0, **_initial_metrics(nets0, train_masks, reduction))]
        snaps, snap_steps = ([nets0], [0]) if snapshot_every is not None else ([], [])
    else:
        (params, opt_state, frozen, member_step), start, records, snaps, snap_steps, previous = (
            loaded
        )
        if start > steps:
            raise ValueError(
                f"the checkpoint {previous}.json in {checkpoint_dir} is at step {start} > "
                f"steps={steps}."
            )
        net = jax.vmap(evaluation_net)(params, opt_state)
    frozen, member_step = np.asarray(frozen), np.asarray(member_step)

    step = start
    bar = tqdm(total=steps, initial=start, disable=not progress, unit="step", leave=False)
    compile_time, compile_cpu = 0.0, 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for s in range(start, steps, log_every):
        if frozen.all():
            break
        if s == start:
            tc, cc = time.perf_counter(), time.process_time()
            compiled = chunk.lower(params, opt_state, frozen, pairs, train_masks).compile()
            compile_time = time.perf_counter() - tc
            compile_cpu = time.process_time() - cc
        new_params, new_state, new_net, m, finite = compiled(
            params, opt_state, frozen, pairs, train_masks
        )
        finite = np.asarray(finite)
        diverged = ~finite & ~frozen
        if diverged.any() and throw:
            bar.close()
            raise FloatingPointError(
                f"training diverged: the weights of members {np.flatnonzero(diverged).tolist()} "
                f"became non-finite in steps {s + 1}-{s + log_every} (detected at step "
                f"{s + log_every}, after their last finite step {s}); lower their learning "
                "rate (or pass throw=False to freeze them at their last finite state and "
                "continue the others)."
            )
        keep = finite & ~frozen
        frozen = frozen | ~finite
        member_step = np.where(keep, s + log_every, member_step)
        params, opt_state, net, step = new_params, new_state, new_net, s + log_every
        nan = np.asarray(np.nan, dtype)
        records.append(
            dict(step=step, **{k: np.where(keep, np.asarray(v), nan) for k, v in m.items()})
        )
        if snapshot_every is not None and step % snapshot_every == 0:
            snaps.append(net)
            snap_steps.append(step)
        if checkpoint_dir is not None and (
            step == steps or (checkpoint_every is not None and step % checkpoint_every == 0)
        ):
            state = (params, opt_state, jnp.asarray(frozen), jnp.asarray(member_step))
            previous = save_checkpoint(
                checkpoint_dir, step, state, records, snaps, snap_steps, facts, previous
            )
        bar.update(log_every)
        if progress:
            bar.set_postfix(
                loss=f"{np.nanmean(records[-1]['train_loss']):.3g}",
                running=f"{int((~frozen).sum())}/{members}",
            )
    bar.close()
    jax.block_until_ready((params, opt_state))
    run_time = time.perf_counter() - t0 - compile_time
    run_cpu_time = time.process_time() - c0 - compile_cpu

    logs = len(records)
    steps_recorded = np.asarray([int(r["step"]) for r in records])
    history = History(
        step=jnp.asarray(np.broadcast_to(steps_recorded, (members, logs))),
        **{
            k: jnp.asarray(np.stack([np.asarray(r[k]) for r in records], -1), dtype)
            for k in METRICS
        },
    )
    snapshots = None
    if snapshot_every is not None:
        after = np.asarray(snap_steps)[None, :] > member_step[:, None]  # (members, snaps)

        def stack(*a):
            x = jnp.stack(a, 1)  # (members, snaps, ...)
            if not jnp.issubdtype(x.dtype, jnp.inexact):
                return x
            return jnp.where(after.reshape(after.shape + (1,) * (x.ndim - 2)), jnp.nan, x)

        snapshots = jax.tree.map(stack, *snaps)
    result = where(jnp.asarray(frozen), Outcome.nonfinite, full((members,), Outcome.successful))
    return EnsembleResult(
        net=net,
        opt_state=opt_state,
        step=jnp.asarray(member_step),
        history=history,
        result=result,
        iterate=None if evaluation_net is identity_point else params,
        snapshots=snapshots,
        snapshot_steps=None if snapshot_every is None else jnp.asarray(snap_steps),
        compile_time=compile_time,
        run_time=run_time,
        run_cpu_time=run_cpu_time,
    )
