"""Full-batch Optax training with progress measures and verified checkpoints.

The loop is `jax.lax.scan` over `log_every` optimizer steps inside one jitted chunk, so a whole
run compiles once; after every chunk the metrics of theory eqs. (1)-(13) are recorded and the
finiteness of the weights is read on the host (a diverged run stops there, with its last
finite state, instead of failing inside jit).

The training loss exploits the exchange symmetry of the architecture: `u_m(x, y) = u_m(y, x)`
(theory eqs. (3)-(4)), so `(x, y)` and `(y, x)` have the same logits and the same label. The loss
over the train set is therefore computed on the pairs `x <= y` only, each weighted by how many
of `(x, y), (y, x)` are in train. This is the same function (and gradient) as
`fourierflow.loss` on the train pairs, up to floating-point rounding, at about half the cost
(the paper's Table 1 / grokking runs do not depend on it: it changes only rounding).

Every optimizer update receives `value` (the loss), `grad` and `value_fn` as extra keyword
arguments (`optax.GradientTransformationExtraArgs`), so line searches (`optax.lbfgs`) and
`optax.contrib.reduce_on_plateau` work. A schedule-free optimizer's iterate is not the point
to evaluate: metrics, snapshots and `TrainResult.net` use
`optax.contrib.schedule_free_eval_params`, while the iterate itself is what the optimizer
state continues from (`TrainResult.iterate`, and the checkpoints).

A checkpoint `step_N` is three files: `.eqx` (the iterate and the optimizer state), `.npz`
(history and snapshots) and, written last, `.json` with the SHA-256 of the other two and the
run's fingerprint (the network's shape, the split, the caller's `fingerprint`, and hashes of
`net0` and of the optimizer state's structure and initial values). Resuming refuses another
run's checkpoint and skips, with a warning, one whose files are missing or damaged; the two
newest complete checkpoints are kept, so a crash while writing one leaves the previous.
"""

import contextlib
import hashlib
import io
import json
import os
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import numpy as np
import optax
from tqdm.auto import tqdm

from ._checks import check_positive_int, check_reduction
from ._data import Split, all_pairs, fold_pairs, full_split
from ._io import lock_folder, to_jsonable, write_atomic
from ._metrics import frequency_sparsity, phase_alignment, weight_norm
from ._network import TwoLayerNet, folded_loss
from ._outcome import Outcome
from ._types import Array, Bool, Float, Int, Reduction

METRICS = (
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "common_accuracy",
    "rare_accuracy",
    "mirror_covered_accuracy",
    "unseen_accuracy",
    "frequency_sparsity",
    "phase_alignment",
    "weight_norm",
)
# Checkpoint files are `step_{step:09d}.{eqx,npz,json}` (the JSON, written last, completes it).
_CHECKPOINT = re.compile(r"^step_(\d{9,})\.(eqx|npz|json)$")
_KEEP = 2  # complete checkpoints kept: a crash while writing one leaves the one before


class History(eqx.Module):
    """Metrics recorded every `log_every` steps (step 0 included).

    Losses use the run's `reduction` over the train (resp. test) pairs. A metric over an empty
    set of pairs (the test set and its classes on full data; `rare` when every train pair's
    mirror is in train) is NaN by definition, not by failure.

    **Fields:**

    - `step`: the optimizer step of each record.
    - `train_loss`, `train_accuracy`, `test_loss`, `test_accuracy`.
    - `common_accuracy`, `rare_accuracy`: accuracy on the train pairs whose mirror `(y, x)` is
      (resp. is not) in train (theory eqs. (1)-(2); diagonal pairs are common).
    - `mirror_covered_accuracy`, `unseen_accuracy`: accuracy on the test pairs whose mirror is
      (resp. is not) in train.
    - `frequency_sparsity`: mean IPR (theory eq. (13)); `phase_alignment`: mean `|sin D|` at the
      dominant frequency; `weight_norm`: `(1/M) sum_m (||theta_m|| + ||xi_m||)`.
    """

    step: Int[Array, " logs"]
    train_loss: Float[Array, " logs"]
    train_accuracy: Float[Array, " logs"]
    test_loss: Float[Array, " logs"]
    test_accuracy: Float[Array, " logs"]
    common_accuracy: Float[Array, " logs"]
    rare_accuracy: Float[Array, " logs"]
    mirror_covered_accuracy: Float[Array, " logs"]
    unseen_accuracy: Float[Array, " logs"]
    frequency_sparsity: Float[Array, " logs"]
    phase_alignment: Float[Array, " logs"]
    weight_norm: Float[Array, " logs"]

    def as_dict(self) -> dict[str, list]:
        """The history as plain Python lists (JSON-ready)."""
        return {name: np.asarray(getattr(self, name)).tolist() for name in ("step",) + METRICS}


class TrainResult(eqx.Module):
    """The outcome of `train`.

    **Fields:**

    - `net`: the network after the last step (for a schedule-free optimizer, its evaluation
      point `optax.contrib.schedule_free_eval_params(opt_state, iterate)`).
    - `opt_state`: the Optax state after the last step.
    - `step`: the number of optimizer steps taken since `net0` (with `result ==
      Outcome.nonfinite`, the last step whose weights were finite).
    - `history`: a `History` of the metrics (up to `step`).
    - `result`: `fourierflow.Outcome.successful`, or `Outcome.nonfinite` when the weights
      became NaN or infinite (only with `throw=False`).
    - `iterate`: `None`, or for a schedule-free optimizer the raw iterate that `opt_state`
      continues from (what a checkpoint stores; `net` is computed from it).
    - `snapshots`: `None`, or the networks at `snapshot_steps` (a `TwoLayerNet` whose `theta`
      and `xi` carry a leading time axis).
    - `snapshot_steps`: `None`, or the steps of the snapshots.
    - `compile_time`, `run_time`: wall seconds of the first chunk's compilation and of the
      training itself (metrics, checkpoints and the progress bar included).
    - `run_cpu_time`: CPU seconds (all threads) of the training itself, a measure of cost
      that other processes on a shared machine disturb much less than `run_time`.
    """

    net: TwoLayerNet
    opt_state: Any
    step: int = eqx.field(static=True)
    history: History
    result: Outcome
    iterate: TwoLayerNet | None = None
    snapshots: TwoLayerNet | None = None
    snapshot_steps: Int[Array, " snaps"] | None = None
    compile_time: float = eqx.field(static=True, default=0.0)
    run_time: float = eqx.field(static=True, default=0.0)
    run_cpu_time: float = eqx.field(static=True, default=0.0)


def evaluate(
    net: TwoLayerNet, split: Split | None = None, reduction: Reduction = "mean"
) -> dict[str, Float[Array, ""]]:
    """Every metric of `History` for one network, from the logits on all `p^2` pairs.

    **Arguments:**

    - `net`: the network (unbatched).
    - `split`: a `fourierflow.Split` (default: full data).
    - `reduction`: `"mean"` or `"sum"` for the losses.

    **Returns:**

    A dict from the metric names of `History` (all but `step`) to scalars (NaN over an empty set).
    """
    check_reduction(reduction)
    split = full_split(net.p) if split is None else split
    _check_split(split, net.p)
    return metrics_on(net, split.train, reduction)


def metrics_on(net: TwoLayerNet, train: Bool[Array, "p p"], reduction: str) -> dict:
    """`evaluate` on a boolean train mask, unchecked and traceable (the chunks call it)."""
    p = net.p
    x, y = all_pairs(p)
    f = net.logits(x, y)
    z = (x + y) % p
    nll = jax.nn.logsumexp(f, axis=-1) - jnp.take_along_axis(f, z[:, None], axis=-1)[:, 0]
    correct = (jnp.argmax(f, axis=-1) == z).astype(f.dtype)
    train = train.reshape(-1)
    mirror = train.reshape(p, p).T.reshape(-1)
    nan = jnp.asarray(jnp.nan, f.dtype)

    def masked(v, mask, mean=True):
        count = jnp.sum(mask)
        total = jnp.sum(jnp.where(mask, v, 0))
        return jnp.where(count > 0, total / jnp.maximum(count, 1) if mean else total, nan)

    mean_loss = reduction == "mean"
    return dict(
        train_loss=masked(nll, train, mean_loss),
        train_accuracy=masked(correct, train),
        test_loss=masked(nll, ~train, mean_loss),
        test_accuracy=masked(correct, ~train),
        common_accuracy=masked(correct, train & mirror),
        rare_accuracy=masked(correct, train & ~mirror),
        mirror_covered_accuracy=masked(correct, ~train & mirror),
        unseen_accuracy=masked(correct, ~train & ~mirror),
        frequency_sparsity=frequency_sparsity(net),
        phase_alignment=phase_alignment(net),
        weight_norm=weight_norm(net),
    )


# The metrics at step 0, one jitted function for every run (compiled once per shape and
# activation), unlike the chunk, which closes over each run's optimizer.
_initial_metrics = jax.jit(metrics_on, static_argnums=2)


def train(
    net0: TwoLayerNet,
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    split: Split | None = None,
    reduction: Reduction = "mean",
    log_every: int = 100,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    snapshot_every: int | None = None,
    progress: bool = True,
    throw: bool = True,
    fingerprint: dict | None = None,
) -> TrainResult:
    """Full-batch training of `net0` by an Optax optimizer on the cross-entropy (theory eq. (5)).

    Every step is one `optimizer.update` on the gradient of the loss over all train pairs
    (`fourierflow.loss` with `reduction`), called with the extra keyword arguments `value`
    (the loss), `grad` and `value_fn` (the loss as a function of the network). The steps run
    as `jax.lax.scan` chunks of `log_every` steps inside one jitted function (one compilation
    per run); the metrics of `History` are recorded at step 0 and after every chunk.

    **Arguments:**

    - `net0`: the initial network.
    - `optimizer`: an `optax.GradientTransformation` (e.g. `optax.adamw`, `optax.sgd`,
      `optax.lbfgs()`, `optax.chain(optax.adam(lr), optax.contrib.reduce_on_plateau())`,
      `optax.contrib.schedule_free_adamw(lr)`).
    - `steps`: the total number of optimizer steps, a positive multiple of `log_every`.
    - `split`: a `fourierflow.Split` with the same `p` (default: full data).
    - `reduction`: `"mean"` (the experiments' convention) or `"sum"`.
    - `log_every`: steps per chunk and between records (>= 1).
    - `checkpoint_dir`: a directory for checkpoints, or `None` for none. The run holds it
      (`lock_folder`) from start to end: a second run into it fails at once.
    - `checkpoint_every`: write a checkpoint every this many steps (a multiple of
      `log_every`); with `checkpoint_dir` and `None`, only at the end.
    - `resume`: continue from the newest intact checkpoint in `checkpoint_dir` when there is
      one (bit-identical to an uninterrupted run with the same arguments); start from `net0`
      otherwise. A checkpoint with missing, truncated or altered files is skipped with a
      warning; one of another run (another fingerprint) is refused.
    - `snapshot_every`: keep the network every this many steps (a multiple of `log_every`).
    - `progress`: show a tqdm progress bar.
    - `throw`: raise when the weights become non-finite; with `False`, stop there and return
      the last finite state (the end of the last chunk whose weights were all finite) with
      `result = Outcome.nonfinite`. Either way no checkpoint is written for the diverged chunk.
    - `fingerprint`: `None`, or a dict of JSON-able facts about the run that `train` cannot
      see (e.g. the configuration and seed, as `run_config` passes them). A checkpoint records
      it, with hashes of `net0` and of the optimizer's initial state; resuming compares them.

    **Returns:**

    A `TrainResult`.

    **Raises:**

    `ValueError`/`TypeError` on bad arguments (before anything compiles) and on a
    checkpoint of another run; `RuntimeError` if another run holds `checkpoint_dir`;
    `FloatingPointError` if the weights become non-finite and `throw=True`.
    """
    if not isinstance(net0, TwoLayerNet):
        raise TypeError(f"`net0` must be a fourierflow.TwoLayerNet; got {type(net0).__name__}.")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(
            "`optimizer` must be an optax.GradientTransformation (with `init` and `update`); "
            f"got {type(optimizer).__name__}."
        )
    if net0.theta.ndim != 2:
        raise ValueError(
            f"`net0` must be unbatched (theta of shape (M, p)); got theta.shape={net0.theta.shape}."
        )
    steps, log_every = check_run_arguments(
        steps, log_every, reduction, checkpoint_dir, checkpoint_every, resume,
        snapshot_every, throw, fingerprint,
    )  # fmt: skip
    split = full_split(net0.p) if split is None else split
    _check_split(split, net0.p)

    lock = contextlib.nullcontext() if checkpoint_dir is None else lock_folder(checkpoint_dir)
    with lock:
        return _train(
            net0,
            optimizer,
            steps=steps,
            split=split,
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


def _train(
    net0,
    optimizer,
    *,
    steps,
    split,
    reduction,
    log_every,
    checkpoint_dir,
    checkpoint_every,
    resume,
    snapshot_every,
    progress,
    throw,
    fingerprint,
) -> TrainResult:
    dtype = net0.xi.dtype
    pairs = fold_pairs(split, dtype)
    train_mask = split.train
    transform = optax.with_extra_args_support(optimizer)
    opt_state0 = transform.init(net0)
    evaluation_net = evaluation_point(opt_state0)
    chunk = cached_jit(
        ("train", optimizer, reduction, log_every, evaluation_net),
        lambda: jax.jit(make_chunk(transform, reduction, log_every, evaluation_net)),
    )

    params, opt_state = net0, opt_state0
    facts = _fingerprint(net0, opt_state0, log_every, reduction, split, fingerprint)
    loaded = load_latest_checkpoint(checkpoint_dir, (net0, opt_state0), facts) if resume else None
    if loaded is None:
        net, start, previous = net0, 0, None
        records = [dict(step=0, **_initial_metrics(net0, train_mask, reduction))]
        snaps, snap_steps = ([net0], [0]) if snapshot_every is not None else ([], [])
    else:
        (params, opt_state), start, records, snaps, snap_steps, previous = loaded
        if start > steps:
            raise ValueError(
                f"the checkpoint {previous}.json in {checkpoint_dir} is at step {start} > "
                f"steps={steps}."
            )
        net = evaluation_net(params, opt_state)

    result, step = Outcome.successful, start
    bar = tqdm(total=steps, initial=start, disable=not progress, unit="step", leave=False)
    compile_time, compile_cpu = 0.0, 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for s in range(start, steps, log_every):
        if s == start:
            tc, cc = time.perf_counter(), time.process_time()
            compiled = chunk.lower(params, opt_state, pairs, train_mask).compile()
            compile_time = time.perf_counter() - tc
            compile_cpu = time.process_time() - cc
        new_params, new_state, new_net, m, finite = compiled(params, opt_state, pairs, train_mask)
        if not bool(finite):
            if throw:
                bar.close()
                raise FloatingPointError(
                    f"training diverged: the weights became non-finite in steps {s + 1}-"
                    f"{s + log_every} (detected at step {s + log_every}, after the last "
                    f"finite step {s}); lower the learning rate (or pass throw=False to get "
                    "the last finite state)."
                )
            result = Outcome.nonfinite
            break
        params, opt_state, net, step = new_params, new_state, new_net, s + log_every
        records.append(dict(step=step, **m))
        if snapshot_every is not None and step % snapshot_every == 0:
            snaps.append(net)
            snap_steps.append(step)
        if checkpoint_dir is not None and (
            step == steps or (checkpoint_every is not None and step % checkpoint_every == 0)
        ):
            state = (params, opt_state)
            previous = save_checkpoint(
                checkpoint_dir, step, state, records, snaps, snap_steps, facts, previous
            )
        bar.update(log_every)
        if progress:
            bar.set_postfix(
                loss=f"{float(m['train_loss']):.3g}", acc=f"{float(m['train_accuracy']):.3f}"
            )
    bar.close()
    jax.block_until_ready((params, opt_state))
    run_time = time.perf_counter() - t0 - compile_time
    run_cpu_time = time.process_time() - c0 - compile_cpu

    history = History(
        step=jnp.asarray([int(r["step"]) for r in records]),
        **{k: jnp.stack([jnp.asarray(r[k], dtype) for r in records]) for k in METRICS},
    )
    snapshots = None
    if snapshot_every is not None:
        snapshots = jax.tree.map(lambda *a: jnp.stack(a), *snaps)
    return TrainResult(
        net=net,
        opt_state=opt_state,
        step=step,
        history=history,
        result=result,
        iterate=None if evaluation_net is identity_point else params,
        snapshots=snapshots,
        snapshot_steps=None if snapshot_every is None else jnp.asarray(snap_steps),
        compile_time=compile_time,
        run_time=run_time,
        run_cpu_time=run_cpu_time,
    )


_JITTED: dict = {}  # the jitted chunks of recent runs, by optimizer and settings
_JITTED_SIZE = 16


def cached_jit(key: tuple, build: Callable[[], Callable]) -> Callable:
    """`build()` (a jitted function), kept for `key` (the optimizer object and the settings
    it closes over): another run with the same optimizer object, e.g. the next seed, reuses
    its compiled executables instead of compiling again. Unhashable keys are not kept."""
    try:
        hash(key)
    except TypeError:
        return build()
    if key not in _JITTED:
        if len(_JITTED) >= _JITTED_SIZE:
            _JITTED.pop(next(iter(_JITTED)))
        _JITTED[key] = build()
    return _JITTED[key]


def make_chunk(optimizer, reduction: str, log_every: int, evaluation_net: Callable) -> Callable:
    """The chunk of `log_every` optimizer steps, `(params, opt_state, pairs, train_mask) ->
    (params, opt_state, net, metrics, finite)`, unjitted: `train` jits it, `train_ensemble`
    jits its `vmap`, so a member of an ensemble runs exactly this code. The folded pairs and
    the train mask are arguments, not constants of the compiled program, in both."""

    def chunk(params, opt_state, pairs, train_mask):
        def loss_fn(net):
            return folded_loss(net, pairs, reduction)

        def step_fn(carry, _):
            params, opt_state = carry
            value, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = optimizer.update(
                grads, opt_state, params, value=value, grad=grads, value_fn=loss_fn
            )
            return (eqx.apply_updates(params, updates), opt_state), None

        (params, opt_state), _ = jax.lax.scan(step_fn, (params, opt_state), None, length=log_every)
        net = evaluation_net(params, opt_state)
        finite = _all_finite(params) & _all_finite(net)
        return params, opt_state, net, metrics_on(net, train_mask, reduction), finite

    return chunk


def check_run_arguments(
    steps, log_every, reduction, checkpoint_dir, checkpoint_every, resume, snapshot_every,
    throw, fingerprint,
) -> tuple[int, int]:  # fmt: skip
    """The checks of the arguments that `train` and `train_ensemble` share (before anything
    compiles); returns `(steps, log_every)` as ints."""
    steps = check_positive_int(steps, "steps")
    log_every = check_positive_int(log_every, "log_every")
    check_reduction(reduction)
    if steps % log_every:
        raise ValueError(
            f"`steps` must be a multiple of `log_every`; got steps={steps}, log_every={log_every}."
        )
    for name, value in (("checkpoint_every", checkpoint_every), ("snapshot_every", snapshot_every)):
        if value is not None and check_positive_int(value, name) % log_every:
            raise ValueError(
                f"`{name}` must be a positive multiple of `log_every` ({log_every}); "
                f"got {name}={value}."
            )
    if checkpoint_dir is None and (checkpoint_every is not None or resume):
        raise ValueError("`checkpoint_every` and `resume=True` need a `checkpoint_dir`.")
    if not isinstance(throw, bool):
        raise TypeError(f"`throw` must be a bool; got {type(throw).__name__} {throw!r}.")
    if fingerprint is not None and not isinstance(fingerprint, dict):
        raise TypeError(
            f"`fingerprint` must be a dict of JSON-able facts or None; got "
            f"{type(fingerprint).__name__}."
        )
    return steps, log_every


def grokking_stages(history: History, threshold: float = 0.95) -> tuple[int | None, int | None]:
    """The boundaries of the three grokking stages (paper Section 3.3, Fig. 5).

    The reference code's rule: memorization ends at the first recorded step with train
    accuracy `>= threshold`; the first generalization stage ends at the first recorded step,
    not before that, with test accuracy `>= threshold`. The second generalization stage
    (cleanup by weight decay) runs to the end.

    **Arguments:**

    - `history`: a `History` (from `train` on a split).
    - `threshold`: in (0, 1].

    **Returns:**

    `(t_memorized, t_generalized)`: steps, each `None` if never reached.
    """
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"`threshold` must lie in (0, 1]; got threshold={threshold!r}.")
    steps = np.asarray(history.step)
    train_ok = np.asarray(history.train_accuracy) >= threshold
    if not train_ok.any():
        return None, None
    i = int(np.argmax(train_ok))
    test_ok = np.asarray(history.test_accuracy)[i:] >= threshold
    j = int(np.argmax(test_ok)) + i if test_ok.any() else None
    return int(steps[i]), None if j is None else int(steps[j])


def identity_point(params, opt_state):
    del opt_state
    return params


def _is_schedule_free(x) -> bool:
    kind = getattr(optax.contrib, "ScheduleFreeState", None)
    return kind is not None and isinstance(x, kind)


def schedule_free_point(params, opt_state):
    """The schedule-free evaluation point of `params` (the one `ScheduleFreeState` in
    `opt_state`)."""
    leaves = jtu.tree_leaves(opt_state, is_leaf=_is_schedule_free)
    state = [x for x in leaves if _is_schedule_free(x)][0]
    return optax.contrib.schedule_free_eval_params(state, params)


def evaluation_point(opt_state0) -> Callable:
    """`(params, opt_state) -> net` at which to evaluate: the schedule-free evaluation point
    when the optimizer state holds a `ScheduleFreeState`, else the parameters themselves (one
    module-level function each, so the compiled chunks of later runs are reused)."""
    leaves = jtu.tree_leaves(opt_state0, is_leaf=_is_schedule_free)
    found = [x for x in leaves if _is_schedule_free(x)]
    if not found:
        return identity_point
    if len(found) > 1:
        raise ValueError(
            f"`optimizer` holds {len(found)} schedule-free states; cannot tell which one "
            "gives the evaluation point. Use one schedule-free transformation."
        )
    return schedule_free_point


def _all_finite(tree) -> Bool[Array, ""]:
    leaves = [x for x in jtu.tree_leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _check_split(split, p: int) -> None:
    if not isinstance(split, Split):
        raise TypeError(f"`split` must be a fourierflow.Split or None; got {type(split).__name__}.")
    if split.p != p:
        raise ValueError(f"`split` is for p={split.p} but the network has p={p}.")
    if not bool(np.any(np.asarray(split.train))):
        raise ValueError("`split` has no train pairs.")


def activation_name(activation: str | Callable) -> str:
    # A name stable across processes (a repr would hold a memory address).
    if isinstance(activation, str):
        return activation
    module = getattr(activation, "__module__", None) or ""
    return f"{module}.{getattr(activation, '__qualname__', type(activation).__qualname__)}"


# ---------------------------------------------------------------------------------------------
# Checkpoints


# What a differing fingerprint field means, for the error message.
_MEANING = dict(
    n_train="another split",
    train_hash="another split",
    net0="another initial network: another seed or initialization",
    optimizer_structure="another optimizer: its state has another structure",
    optimizer_init="another optimizer or optimizer setting: another initial state",
)


def leaves_digest(tree) -> str:
    """SHA-256 of the dtypes, shapes and bytes of the leaves of `tree`."""
    h = hashlib.sha256()
    for leaf in jtu.tree_leaves(tree):
        if isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jr.key_data(leaf)
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def structure_digest(tree) -> str:
    # The treedef's text names every node type; a callable's repr holds a memory address,
    # which differs between processes, so it is removed.
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", str(jtu.tree_structure(tree)))
    return hashlib.sha256(text.encode()).hexdigest()


def _fingerprint(net0, opt_state0, log_every, reduction, split, run) -> dict:
    """Everything that must agree between a checkpoint and the run resuming from it."""
    train = np.asarray(split.train)
    return dict(
        p=net0.p,
        width=net0.width,
        activation=activation_name(net0.activation),
        embedding=net0.embedding is not None,
        dtype=str(net0.xi.dtype),
        log_every=log_every,
        reduction=reduction,
        n_train=int(train.sum()),
        train_hash=hashlib.sha256(np.packbits(train).tobytes()).hexdigest(),
        run=None if run is None else json.loads(json.dumps(to_jsonable(run), allow_nan=False)),
        optimizer_structure=structure_digest(opt_state0),
        optimizer_init=leaves_digest(opt_state0),
        net0=leaves_digest(net0),
    )


def _flatten(d: Any, prefix: str = "") -> dict:
    if not isinstance(d, dict):
        return {prefix: d}
    if not d and prefix:
        return {prefix: {}}
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _fingerprint_differences(stored: dict, current: dict) -> list[str]:
    a, b = _flatten(stored), _flatten(current)
    out = []
    for key in list(b) + [k for k in a if k not in b]:
        if a.get(key, "<absent>") == b.get(key, "<absent>"):
            continue
        top = key.split(".")[0]
        if top in _MEANING:
            out.append(f"`{key}` ({_MEANING[top]})")
        else:
            out.append(
                f"`{key}` (checkpoint: {a.get(key, '<absent>')!r}, this run: "
                f"{b.get(key, '<absent>')!r})"
            )
    return out


def save_checkpoint(directory, step, state, records, snaps, snap_steps, facts, previous) -> str:
    """Write checkpoint `step_<step>`; return its stem. The JSON, written last, records the
    checksums of the other two files; once it is in place every checkpoint but this one and
    `previous` (and any temporary file) is deleted."""
    stem = f"step_{step:09d}"
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, state)
    blobs = {"eqx": buffer.getvalue()}

    arrays = {k: np.asarray([np.asarray(r[k]) for r in records]) for k in ("step",) + METRICS}
    if snaps:
        arrays["snap_theta"] = np.stack([np.asarray(n.theta) for n in snaps])
        arrays["snap_xi"] = np.stack([np.asarray(n.xi) for n in snaps])
        if snaps[0].embedding is not None:
            arrays["snap_embedding"] = np.stack([np.asarray(n.embedding) for n in snaps])
        arrays["snap_steps"] = np.asarray(snap_steps)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    blobs["npz"] = buffer.getvalue()

    files = {}
    for ext, blob in blobs.items():
        write_atomic(directory / f"{stem}.{ext}", blob)
        files[ext] = dict(
            name=f"{stem}.{ext}", bytes=len(blob), sha256=hashlib.sha256(blob).hexdigest()
        )
    info = dict(step=step, time=time.time(), files=files, fingerprint=facts)
    write_atomic(directory / f"{stem}.json", (json.dumps(info, indent=1) + "\n").encode())

    keep = {stem, previous}
    for path in directory.iterdir():
        match = _CHECKPOINT.match(path.name)
        stale = match is not None and path.name.rsplit(".", 1)[0] not in keep
        if stale or (path.name.startswith(".step_") and path.name.endswith(".tmp")):
            path.unlink(missing_ok=True)
    return stem


def load_latest_checkpoint(directory: Path, template, facts):
    """The newest intact checkpoint in `directory` as `(state, step, records, snaps,
    snap_steps, stem)`, or `None`. Damaged ones are skipped with a warning; one of another run
    raises `ValueError`."""
    stems: dict[int, set] = {}
    if directory.is_dir():
        for path in directory.iterdir():
            match = _CHECKPOINT.match(path.name)
            if match:
                stems.setdefault(int(match.group(1)), set()).add(match.group(2))
    for step in sorted(stems, reverse=True):
        stem = f"step_{step:09d}"
        loaded = _load_checkpoint(directory, stem, stems[step], template, facts)
        if loaded is not None:
            state, records, snaps, snap_steps = loaded
            return state, step, records, snaps, snap_steps, stem
    if stems:
        warnings.warn(
            f"no intact checkpoint in {directory}: training starts again from `net0`.",
            UserWarning,
            stacklevel=4,
        )
    return None


def _skip(why: str) -> None:
    warnings.warn(f"{why}; trying an older one.", UserWarning, stacklevel=5)


def _load_checkpoint(directory, stem, extensions, template, facts):
    json_path = directory / f"{stem}.json"
    if "json" not in extensions:
        names = ", ".join(f"{stem}.{e}" for e in sorted(extensions))
        _skip(
            f"ignoring the incomplete checkpoint {directory / stem} ({names} without "
            f"{stem}.json: its writing was interrupted, or the JSON was deleted)"
        )
        return None
    try:
        info = json.loads(json_path.read_text())
        stored, files = info["fingerprint"], {ext: info["files"][ext] for ext in ("eqx", "npz")}
        if not all(
            isinstance(f["bytes"], int) and isinstance(f["sha256"], str) for f in files.values()
        ):
            raise TypeError("malformed checksums")
    except (OSError, ValueError, KeyError, TypeError) as e:
        _skip(
            f"ignoring the checkpoint {json_path}: unreadable, or not a fourierflow checkpoint "
            f"with checksums ({type(e).__name__}: {e})"
        )
        return None
    differences = _fingerprint_differences(stored, facts)
    if differences:
        raise ValueError(
            f"cannot resume from {json_path}: it belongs to another run; its fingerprint "
            f"differs in {', '.join(differences)}. Resume with the same arguments, or choose "
            "another `checkpoint_dir` (or `resume=False`, which replaces its checkpoints)."
        )
    blobs = {}
    for ext, entry in files.items():
        path = directory / f"{stem}.{ext}"
        try:
            blob = path.read_bytes()
        except OSError as e:
            _skip(f"ignoring the checkpoint {json_path}: {path} cannot be read ({e})")
            return None
        if len(blob) != entry["bytes"] or hashlib.sha256(blob).hexdigest() != entry["sha256"]:
            _skip(
                f"ignoring the checkpoint {json_path}: {path} is damaged (its "
                f"{len(blob)} bytes do not match the checksum of the {entry['bytes']} "
                "bytes written)"
            )
            return None
        blobs[ext] = blob
    state = eqx.tree_deserialise_leaves(io.BytesIO(blobs["eqx"]), template)
    with np.load(io.BytesIO(blobs["npz"])) as data:
        arrays = {k: data[k] for k in data.files}
    records = [
        {k: (int(arrays[k][i]) if k == "step" else arrays[k][i]) for k in ("step",) + METRICS}
        for i in range(len(arrays["step"]))
    ]
    snaps, snap_steps = [], []
    if "snap_steps" in arrays:
        net0 = template[0]
        embeddings = arrays.get("snap_embedding", [None] * len(arrays["snap_steps"]))
        snaps = [
            TwoLayerNet(
                jnp.asarray(t),
                jnp.asarray(x),
                net0.activation,
                None if e is None else jnp.asarray(e),
            )
            for t, x, e in zip(arrays["snap_theta"], arrays["snap_xi"], embeddings, strict=True)
        ]
        snap_steps = [int(s) for s in arrays["snap_steps"]]
    return state, records, snaps, snap_steps
