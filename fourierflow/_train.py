"""Full-batch Optax training with progress measures and atomic checkpoints (issue 5).

The loop is `jax.lax.scan` over `log_every` optimizer steps inside one jitted chunk, so a whole
run compiles once; after every chunk the metrics of SPEC sections 1-4 are recorded.

The training loss exploits the exchange symmetry of the architecture: `u_m(x, y) = u_m(y, x)`
(SPEC section 2), so `(x, y)` and `(y, x)` have the same logits and the same label. The loss
over the train set is therefore computed on the pairs `x <= y` only, each weighted by how many
of `(x, y), (y, x)` are in train. This is the same function (and gradient) as
`fourierflow.loss` on the train pairs, up to floating-point rounding, at about half the cost
(the paper's Table 1 / grokking runs do not depend on it: it changes only rounding).
"""

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from ._checks import check_positive_int, check_reduction
from ._io import write_atomic
from ._types import Array, Bool, Float, Int, Reduction
from ._data import Split, all_pairs, fold_pairs, full_split
from ._metrics import frequency_sparsity, phase_alignment, weight_norm
from ._network import TwoLayerNet, folded_loss

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


class History(eqx.Module):
    """Metrics recorded every `log_every` steps (step 0 included).

    Losses use the run's `reduction` over the train (resp. test) pairs. A metric over an empty
    set of pairs (the test set and its classes on full data; `rare` when every train pair's
    mirror is in train) is NaN by definition, not by failure.

    **Fields:**

    - `step`: the optimizer step of each record.
    - `train_loss`, `train_accuracy`, `test_loss`, `test_accuracy`.
    - `common_accuracy`, `rare_accuracy`: accuracy on the train pairs whose mirror `(y, x)` is
      (resp. is not) in train (SPEC section 1; diagonal pairs are common).
    - `mirror_covered_accuracy`, `unseen_accuracy`: accuracy on the test pairs whose mirror is
      (resp. is not) in train.
    - `frequency_sparsity`: mean IPR (SPEC section 4); `phase_alignment`: mean `|sin D|` at the
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

    - `net`: the network after the last step.
    - `opt_state`: the Optax state after the last step.
    - `step`: the number of optimizer steps taken since `net0`.
    - `history`: a `History` of the metrics.
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
    return _evaluate(net, split.train, reduction)


def _evaluate(net: TwoLayerNet, train: Bool[Array, "p p"], reduction: str) -> dict:
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
) -> TrainResult:
    """Full-batch training of `net0` by an Optax optimizer on the cross-entropy (SPEC 3).

    Every step is one `optimizer.update` on the gradient of the loss over all train pairs
    (`fourierflow.loss` with `reduction`). The steps run as `jax.lax.scan` chunks of
    `log_every` steps inside one jitted function (one compilation per run); the metrics of
    `History` are recorded at step 0 and after every chunk.

    **Arguments:**

    - `net0`: the initial network.
    - `optimizer`: an `optax.GradientTransformation` (e.g. `optax.adamw`, `optax.sgd`).
    - `steps`: the total number of optimizer steps, a positive multiple of `log_every`.
    - `split`: a `fourierflow.Split` with the same `p` (default: full data).
    - `reduction`: `"mean"` (the experiments' convention) or `"sum"`.
    - `log_every`: steps per chunk and between records (>= 1).
    - `checkpoint_dir`: a directory for checkpoints, or `None` for none.
    - `checkpoint_every`: write a checkpoint every this many steps (a multiple of
      `log_every`); with `checkpoint_dir` and `None`, only at the end.
    - `resume`: continue from the latest checkpoint in `checkpoint_dir` when there is one
      (bit-identical to an uninterrupted run with the same arguments); start from `net0`
      otherwise.
    - `snapshot_every`: keep the network every this many steps (a multiple of `log_every`).
    - `progress`: show a tqdm progress bar.

    **Returns:**

    A `TrainResult`.

    **Raises:**

    `ValueError`/`TypeError` on bad arguments (before anything compiles);
    `equinox.EquinoxRuntimeError` if the weights become non-finite.
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
    split = full_split(net0.p) if split is None else split
    _check_split(split, net0.p)

    dtype = net0.xi.dtype
    pairs = fold_pairs(split, dtype)
    train_mask = split.train

    def step_fn(carry, _):
        net, opt_state = carry
        grads = jax.grad(folded_loss)(net, pairs, reduction)
        updates, opt_state = optimizer.update(grads, opt_state, net)
        return (eqx.apply_updates(net, updates), opt_state), None

    @jax.jit
    def chunk(net, opt_state):
        (net, opt_state), _ = jax.lax.scan(step_fn, (net, opt_state), None, length=log_every)
        finite = jnp.all(jnp.isfinite(net.theta)) & jnp.all(jnp.isfinite(net.xi))
        net = eqx.error_if(
            net, ~finite, "training diverged: non-finite weights (lower the learning rate)"
        )
        return net, opt_state, _evaluate(net, train_mask, reduction)

    metrics_fn = jax.jit(lambda net: _evaluate(net, train_mask, reduction))

    net, opt_state = net0, optimizer.init(net0)
    meta = _metadata(net0, steps, log_every, reduction, split)
    loaded = _load_latest(checkpoint_dir, net, opt_state, meta) if resume else None
    if loaded is None:
        start, records = 0, [dict(step=0, **metrics_fn(net0))]
        snaps, snap_steps = ([net0], [0]) if snapshot_every is not None else ([], [])
    else:
        net, opt_state, start, records, snaps, snap_steps = loaded
        if start > steps:
            raise ValueError(
                f"the checkpoint in {checkpoint_dir} is at step {start} > steps={steps}."
            )

    bar = tqdm(total=steps, initial=start, disable=not progress, unit="step", leave=False)
    compile_time, compile_cpu = 0.0, 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for s in range(start, steps, log_every):
        if s == start:
            tc, cc = time.perf_counter(), time.process_time()
            compiled = chunk.lower(net, opt_state).compile()
            compile_time = time.perf_counter() - tc
            compile_cpu = time.process_time() - cc
        net, opt_state, m = compiled(net, opt_state)
        s_new = s + log_every
        records.append(dict(step=s_new, **m))
        if snapshot_every is not None and s_new % snapshot_every == 0:
            snaps.append(net)
            snap_steps.append(s_new)
        if checkpoint_dir is not None and (
            s_new == steps or (checkpoint_every is not None and s_new % checkpoint_every == 0)
        ):
            _save(checkpoint_dir, s_new, net, opt_state, records, snaps, snap_steps, meta)
        bar.update(log_every)
        if progress:
            bar.set_postfix(
                loss=f"{float(m['train_loss']):.3g}", acc=f"{float(m['train_accuracy']):.3f}"
            )
    bar.close()
    jax.block_until_ready(net)
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
        step=steps,
        history=history,
        snapshots=snapshots,
        snapshot_steps=None if snapshot_every is None else jnp.asarray(snap_steps),
        compile_time=compile_time,
        run_time=run_time,
        run_cpu_time=run_cpu_time,
    )


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


def _check_split(split, p: int) -> None:
    if not isinstance(split, Split):
        raise TypeError(f"`split` must be a fourierflow.Split or None; got {type(split).__name__}.")
    if split.p != p:
        raise ValueError(f"`split` is for p={split.p} but the network has p={p}.")
    if not bool(np.any(np.asarray(split.train))):
        raise ValueError("`split` has no train pairs.")


def _activation_name(activation: str | Callable) -> str:
    # A name stable across processes (a repr would hold a memory address).
    if isinstance(activation, str):
        return activation
    module = getattr(activation, "__module__", None) or ""
    return f"{module}.{getattr(activation, '__qualname__', type(activation).__qualname__)}"


def _metadata(net, steps, log_every, reduction, split) -> dict:
    return dict(
        p=net.p,
        width=net.width,
        activation=_activation_name(net.activation),
        embedding=net.embedding is not None,
        dtype=str(net.xi.dtype),
        log_every=log_every,
        reduction=reduction,
        n_train=int(np.asarray(split.train).sum()),
        train_hash=hashlib.sha256(np.packbits(np.asarray(split.train)).tobytes()).hexdigest(),
        steps=steps,
    )


def _save(directory, step, net, opt_state, records, snaps, snap_steps, meta) -> None:
    """A checkpoint `step_<step>.{eqx,npz,json}`; the JSON, written last, marks it complete."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"step_{step:09d}"
    write_atomic(
        directory / f"{stem}.eqx", lambda t: eqx.tree_serialise_leaves(t, (net, opt_state))
    )

    arrays = {k: np.asarray([np.asarray(r[k]) for r in records]) for k in ("step",) + METRICS}
    if snaps:
        arrays["snap_theta"] = np.stack([np.asarray(n.theta) for n in snaps])
        arrays["snap_xi"] = np.stack([np.asarray(n.xi) for n in snaps])
        if net.embedding is not None:
            arrays["snap_embedding"] = np.stack([np.asarray(n.embedding) for n in snaps])
        arrays["snap_steps"] = np.asarray(snap_steps)

    def write_npz(t):
        with open(t, "wb") as fh:
            np.savez(fh, **arrays)

    write_atomic(directory / f"{stem}.npz", write_npz)
    info = dict(meta, step=step, time=time.time())
    write_atomic(directory / f"{stem}.json", lambda t: t.write_text(json.dumps(info, indent=1)))
    for old in directory.glob("step_*.json"):
        if old.name != f"{stem}.json":
            old.unlink(missing_ok=True)
            for ext in (".eqx", ".npz"):
                old.with_suffix(ext).unlink(missing_ok=True)


def _load_latest(directory, net, opt_state, meta):
    """The latest complete checkpoint in `directory`, or `None`."""
    directory = Path(directory)
    candidates = sorted(directory.glob("step_*.json")) if directory.is_dir() else []
    if not candidates:
        return None
    path = candidates[-1]
    info = json.loads(path.read_text())
    for key in ("p", "width", "activation", "embedding", "dtype", "log_every", "reduction"):
        if info.get(key) != meta[key]:
            raise ValueError(
                f"cannot resume from {path}: it has {key}={info.get(key)!r} but this run has "
                f"{key}={meta[key]!r}."
            )
    if info.get("train_hash") != meta["train_hash"] or info.get("n_train") != meta["n_train"]:
        raise ValueError(f"cannot resume from {path}: it was trained on another split.")
    net, opt_state = eqx.tree_deserialise_leaves(path.with_suffix(".eqx"), (net, opt_state))
    with np.load(path.with_suffix(".npz")) as data:
        arrays = {k: data[k] for k in data.files}
    records = [
        {k: (int(arrays[k][i]) if k == "step" else arrays[k][i]) for k in ("step",) + METRICS}
        for i in range(len(arrays["step"]))
    ]
    snaps, snap_steps = [], []
    if "snap_steps" in arrays:
        embeddings = arrays.get("snap_embedding", [None] * len(arrays["snap_steps"]))
        snaps = [
            TwoLayerNet(
                jnp.asarray(t),
                jnp.asarray(x),
                net.activation,
                None if e is None else jnp.asarray(e),
            )
            for t, x, e in zip(arrays["snap_theta"], arrays["snap_xi"], embeddings, strict=True)
        ]
        snap_steps = [int(s) for s in arrays["snap_steps"]]
    return net, opt_state, int(info["step"]), records, snaps, snap_steps
