"""Tests of `fourierflow.train` and the named configurations. Budget: < 100 s."""

import dataclasses
import hashlib
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import numpy as np
import optax
import pytest
from helpers import tree_allclose

import fourierflow as ff

P, M = 7, 16
METRICS = [f.name for f in dataclasses.fields(ff.History) if f.name != "step"]


def _hand_loop(net, optimizer, split, steps, reduction, log_every, extra_args=False):
    """A plain Optax loop on `fourierflow.loss` over the train pairs, recording the nets.

    With `extra_args`, `update` also gets `value`, `grad` and `value_fn` (as Optax documents
    for `reduce_on_plateau` and `lbfgs`)."""
    x, y = split.pairs(split.train)
    state = optimizer.init(net)

    def value_fn(net):
        return ff.loss(net, x, y, reduction)

    @jax.jit
    def step(net, state):
        value, grads = jax.value_and_grad(value_fn)(net)
        if extra_args:
            kw = dict(value=value, grad=grads, value_fn=value_fn)
            updates, state = optimizer.update(grads, state, net, **kw)
        else:
            updates, state = optimizer.update(grads, state, net)
        return optax.apply_updates(net, updates), state

    nets = [net]
    for s in range(1, steps + 1):
        net, state = step(net, state)
        if s % log_every == 0:
            nets.append(net)
    return net, state, nets


def _direct_metrics(net, split, reduction):
    """Every metric recomputed from the public functions on explicit pair lists."""
    out = {}

    def acc(mask):
        x, y = split.pairs(mask)
        return float(ff.accuracy(net, x, y)) if len(x) else np.nan

    def lossof(mask):
        x, y = split.pairs(mask)
        return float(ff.loss(net, x, y, reduction)) if len(x) else np.nan

    out["train_loss"], out["test_loss"] = lossof(split.train), lossof(split.test)
    out["train_accuracy"], out["test_accuracy"] = acc(split.train), acc(split.test)
    for name in ("common", "rare", "mirror_covered", "unseen"):
        out[f"{name}_accuracy"] = acc(getattr(split, name))
    out["frequency_sparsity"] = float(ff.frequency_sparsity(net))
    out["phase_alignment"] = float(ff.phase_alignment(net))
    out["weight_norm"] = float(ff.weight_norm(net))
    return out


@pytest.mark.parametrize(
    "activation, optimizer, fraction, reduction, log_every",
    [
        ("relu", optax.adamw(3e-2, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.5), 0.6, "mean", 10),
        ("quad", optax.sgd(0.5), 1.0, "mean", 1),  # compared after every single step
        ("relu", optax.sgd(1e-2, momentum=0.9), 0.75, "sum", 10),
    ],
)
def test_train_matches_hand_written_optax_loop(
    getkey, activation, optimizer, fraction, reduction, log_every
):
    net0 = ff.init_gaussian(getkey(), P, M, 1.0, activation)
    split = ff.random_split(getkey(), P, fraction)
    steps = 3 * log_every
    result = ff.train(
        net0,
        optimizer,
        steps=steps,
        split=split,
        reduction=reduction,
        log_every=log_every,
        snapshot_every=log_every,
        progress=False,
    )
    net, state, nets = _hand_loop(net0, optimizer, split, steps, reduction, log_every)
    assert result.step == steps and result.result == ff.Outcome.successful
    assert result.iterate is None
    assert tree_allclose(result.net, net, rtol=1e-10, atol=1e-12)
    assert tree_allclose(result.opt_state, state, rtol=1e-10, atol=1e-12)
    assert np.array_equal(result.history.step, np.arange(4) * log_every)
    assert np.array_equal(result.snapshot_steps, np.arange(4) * log_every)
    for i, n in enumerate(nets):
        assert tree_allclose(jtu.tree_map(lambda a, i=i: a[i], result.snapshots), n, rtol=1e-10)
        if i != len(nets) - 1:
            continue
        # The recorded metrics equal a direct recomputation from the public functions.
        direct = _direct_metrics(n, split, reduction)
        for name in METRICS:
            np.testing.assert_allclose(
                # ff.accuracy averages in float32: a count ratio is exact to ~1e-7.
                getattr(result.history, name)[i],
                direct[name],
                rtol=1e-9 if "loss" in name else 1e-6,
                err_msg=name,
            )
    # The network moved (the comparison is not vacuous).
    assert not tree_allclose(result.net, net0, rtol=1e-3)


def test_symmetric_pairs_fold_the_train_loss(getkey):
    net = ff.init_gaussian(getkey(), 9, M, 1.0, "relu")
    split = ff.random_split(getkey(), 9, 0.6)
    x, y, count = ff.symmetric_pairs(split)
    assert count.sum() == np.asarray(split.train).sum()
    assert np.all(x <= y) and set(np.unique(count)) <= {1, 2}
    per_pair = jax.vmap(lambda a, b: ff.loss(net, a[None], b[None], "sum"))(x, y)
    tx, ty = split.pairs(split.train)
    np.testing.assert_allclose(jnp.sum(count * per_pair), ff.loss(net, tx, ty, "sum"), rtol=1e-13)


def test_resume_is_bit_identical(getkey, tmp_path):
    net0 = ff.init_gaussian(getkey(), P, M, 1.0, "relu")
    split = ff.random_split(getkey(), P, 0.7)
    opt = optax.adamw(1e-2, weight_decay=1.0)
    kw = dict(split=split, log_every=5, snapshot_every=10, progress=False)
    full = ff.train(net0, opt, steps=40, **kw)
    # An interrupted run: 20 steps with checkpoints, then resumed to 40.
    ff.train(net0, opt, steps=20, checkpoint_dir=tmp_path, checkpoint_every=10, **kw)
    files = sorted(p.name for p in tmp_path.iterdir())
    # The two newest checkpoints are kept; the lock file stays (empty) after the run.
    assert files == [".fourierflow.lock"] + [
        f"step_0000000{s}.{e}" for s in (10, 20) for e in ("eqx", "json", "npz")
    ]
    assert (tmp_path / ".fourierflow.lock").read_text() == ""
    meta = json.loads((tmp_path / "step_000000020.json").read_text())
    assert meta["step"] == 20
    assert (meta["fingerprint"]["p"], meta["fingerprint"]["width"]) == (P, M)
    for ext in ("eqx", "npz"):
        blob = (tmp_path / f"step_000000020.{ext}").read_bytes()
        assert meta["files"][ext]["sha256"] == hashlib.sha256(blob).hexdigest()
    resumed = ff.train(net0, opt, steps=40, checkpoint_dir=tmp_path, resume=True, **kw)
    leaves = jtu.tree_leaves((full.net, full.opt_state, full.history, full.snapshots))
    leaves_r = jtu.tree_leaves((resumed.net, resumed.opt_state, resumed.history, resumed.snapshots))
    assert len(leaves) == len(leaves_r)
    for a, b in zip(leaves, leaves_r, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    assert np.array_equal(resumed.snapshot_steps, [0, 10, 20, 30, 40])
    # Resuming a finished run is a no-op that returns the checkpoint.
    again = ff.train(net0, opt, steps=40, checkpoint_dir=tmp_path, resume=True, **kw)
    assert np.array_equal(again.net.theta, full.net.theta)
    # A checkpoint of another network is refused.
    other = ff.init_gaussian(getkey(), P, M + 1, 1.0, "relu")
    with pytest.raises(ValueError, match="width"):
        ff.train(other, opt, steps=40, checkpoint_dir=tmp_path, resume=True, **kw)
    with pytest.raises(ValueError, match="another split"):
        kw2 = dict(kw, split=ff.random_split(getkey(), P, 0.7))
        ff.train(net0, opt, steps=40, checkpoint_dir=tmp_path, resume=True, **kw2)


def test_adamw_config_is_pytorch_adamw(getkey):
    """One-by-one check of `make_optimizer` against torch.optim.AdamW's update, in NumPy."""
    cfg = ff.get_config("grokking", p=5, width=3)
    assert (cfg.b1, cfg.b2, cfg.eps, cfg.weight_decay, cfg.lr) == (0.9, 0.98, 1e-8, 2.0, 1e-4)
    opt = cfg.make_optimizer()
    w = np.asarray(jr.normal(getkey(), (3, 5)))
    params = {"w": jnp.asarray(w)}
    state = opt.init(params)
    m = v = np.zeros_like(w)
    for t in range(1, 4):
        g = np.sin(w * t)
        updates, state = opt.update({"w": jnp.asarray(g)}, state, params)
        params = optax.apply_updates(params, updates)
        w = w * (1 - cfg.lr * cfg.weight_decay)  # torch: decoupled decay first
        m = cfg.b1 * m + (1 - cfg.b1) * g
        v = cfg.b2 * v + (1 - cfg.b2) * g**2
        mhat, vhat = m / (1 - cfg.b1**t), v / (1 - cfg.b2**t)
        w = w - cfg.lr * mhat / (np.sqrt(vhat) + cfg.eps)
        np.testing.assert_allclose(params["w"], w, rtol=1e-12, atol=1e-15)


def test_named_configs():
    c = ff.CONFIGS
    assert set(c) == {"standard", "grokking", "quad_random", "quad_single_freq", "relu_single_freq"}
    assert all(x.reduction == "mean" and x.p == 23 and x.width == 512 for x in c.values())
    s = c["standard"]
    assert (s.activation, s.optimizer, s.lr, s.weight_decay, s.train_fraction, s.steps) == (
        "relu",
        "adamw",
        5e-5,
        0.0,
        1.0,
        5000,
    )
    assert s.init == "gaussian" and s.init_scale == 0.1
    g = c["grokking"]
    assert (g.lr, g.weight_decay, g.train_fraction, g.steps) == (1e-4, 2.0, 0.75, 50_000)
    assert (c["quad_random"].activation, c["quad_random"].lr, c["quad_random"].steps) == (
        "quad",
        5e-5,
        5000,
    )
    q, r = c["quad_single_freq"], c["relu_single_freq"]
    assert (q.activation, q.optimizer, q.lr, q.kappa, q.steps) == ("quad", "sgd", 0.1, 0.02, 10_000)
    assert (r.activation, r.optimizer, r.lr, r.kappa, r.steps) == (
        "relu",
        "sgd",
        0.01,
        0.002,
        10_000,
    )
    net = q.make_net(jr.key(0))
    assert float(jnp.max(ff.frequency_sparsity(net))) == pytest.approx(1.0)
    assert np.asarray(g.make_split(jr.key(0)).train).sum() == round(0.75 * 23**2)


def test_run_config_small(getkey):
    config = ff.get_config("grokking", p=7, width=8, steps=20, log_every=10)
    result = ff.run_config(config, seed=3, progress=False)
    net0, split = ff.config_setup(config, seed=3)
    assert result.step == 20 and result.history.test_accuracy.shape == (3,)
    # Step 0 of the history is the seeded initial network on the seeded split.
    direct = ff.evaluate(net0, split, "mean")
    for name in METRICS:
        np.testing.assert_allclose(getattr(result.history, name)[0], direct[name], rtol=1e-12)
    assert np.asarray(split.train).sum() == round(0.75 * 49)


def test_full_data_test_metrics_are_nan(getkey):
    net0 = ff.init_gaussian(getkey(), P, M, 1.0, "quad")
    m = ff.evaluate(net0)
    assert np.isnan(m["test_loss"]) and np.isnan(m["unseen_accuracy"])
    assert np.isfinite(m["train_loss"]) and m["common_accuracy"] == m["train_accuracy"]


def test_grokking_stages():
    steps = jnp.arange(0, 1000, 100)
    train_acc = jnp.asarray([0, 0.5, 0.96, 1, 1, 1, 1, 1, 1, 1.0])
    test_acc = jnp.asarray([0.97, 0, 0, 0.2, 0.5, 0.94, 0.95, 0.99, 1, 1.0])
    nan = jnp.full(10, jnp.nan)
    kw = {k: nan for k in METRICS}
    h = ff.History(step=steps, **dict(kw, train_accuracy=train_acc, test_accuracy=test_acc))
    assert ff.grokking_stages(h) == (200, 600)
    assert ff.grokking_stages(h, threshold=0.999) == (300, 800)
    h2 = ff.History(step=steps, **dict(kw, train_accuracy=train_acc * 0, test_accuracy=test_acc))
    assert ff.grokking_stages(h2) == (None, None)
    with pytest.raises(ValueError, match="threshold"):
        ff.grokking_stages(h, threshold=0.0)


def test_divergence_stops_at_the_last_finite_state(getkey):
    """With `throw=False` a diverging run returns the hand-written loop's state at the end of
    the last chunk whose weights were finite; with `throw=True` it raises, naming the step."""
    net0 = ff.init_gaussian(getkey(), P, M, 1.0, "quad")
    opt, log_every, steps = optax.sgd(5.0), 4, 60
    _, _, nets = _hand_loop(net0, opt, ff.full_split(P), steps, "mean", 1)
    finite = [all(bool(jnp.all(jnp.isfinite(a))) for a in jtu.tree_leaves(n)) for n in nets]
    first_bad = finite.index(False)  # the step at which the reference loop diverges
    assert log_every < first_bad < steps - log_every
    last = (first_bad - 1) // log_every * log_every  # the last chunk end before it
    assert finite[last] and not finite[last + log_every]
    result = ff.train(
        net0,
        opt,
        steps=steps,
        log_every=log_every,
        snapshot_every=log_every,
        progress=False,
        throw=False,
    )
    assert result.result == ff.Outcome.nonfinite and result.step == last
    assert tree_allclose(result.net, nets[last], rtol=1e-8)
    assert np.array_equal(result.history.step, np.arange(0, last + 1, log_every))
    assert np.array_equal(result.snapshot_steps, np.arange(0, last + 1, log_every))
    # Nothing returned is NaN, but the test metrics, NaN by definition on full data.
    for leaf in jtu.tree_leaves((result.net, result.opt_state, result.snapshots)):
        assert np.all(np.isfinite(leaf))
    for name in METRICS:
        values = np.asarray(getattr(result.history, name))
        expect_nan = name in ("test_loss", "test_accuracy", "rare_accuracy") or name.startswith(
            ("mirror", "unseen")
        )
        assert np.all(np.isnan(values) if expect_nan else np.isfinite(values)), name
    match = rf"detected at step {last + log_every}\b.*lower the learning rate"
    with pytest.raises(FloatingPointError, match=match):
        ff.train(net0, opt, steps=steps, log_every=log_every, progress=False)


def test_optimizers_with_extra_arguments(getkey):
    """`reduce_on_plateau` needs `value`; `lbfgs` needs `value`, `grad` and `value_fn`."""
    net0 = ff.init_gaussian(getkey(), P, 8, 1.0, "quad")
    split = ff.random_split(getkey(), P, 0.8)
    x, y = split.pairs(split.train)
    # reduce_on_plateau: the same steps as a hand-written loop that passes `value`.
    plateau = optax.contrib.reduce_on_plateau(patience=2, cooldown=0, factor=0.5, rtol=1e-2)
    optimizer = optax.chain(optax.adam(0.3), plateau)
    result = ff.train(net0, optimizer, steps=40, split=split, log_every=10, progress=False)
    net, state, _ = _hand_loop(net0, optimizer, split, 40, "mean", 10, extra_args=True)
    assert tree_allclose(result.net, net, rtol=1e-8, atol=1e-10)
    assert tree_allclose(result.opt_state, state, rtol=1e-8, atol=1e-10)
    assert float(result.opt_state[1].scale) < 1  # the rule saw the loss plateau and acted
    loss = np.asarray(result.history.train_loss)
    assert loss[-1] < 0.5 * loss[0]
    # lbfgs: its line search evaluates `value_fn`, and keeps the value and gradient at the
    # accepted point, which must be the train loss (`fourierflow.loss`) of the final network.
    result = ff.train(net0, optax.lbfgs(), steps=20, split=split, log_every=10, progress=False)
    search = result.opt_state[-1]
    np.testing.assert_allclose(search.value, ff.loss(result.net, x, y, "mean"), rtol=1e-10)
    assert tree_allclose(search.grad, jax.grad(ff.loss)(result.net, x, y, "mean"), rtol=1e-8)
    loss = np.asarray(result.history.train_loss)
    assert loss[-1] < 0.1 * loss[0]


def test_schedule_free_is_evaluated_at_its_evaluation_point(getkey, tmp_path):
    """Metrics, snapshots and `net` are at `schedule_free_eval_params`; the iterate that the
    state continues from is `iterate` (all against a hand-written loop), and it is what a
    checkpoint resumes from."""
    net0 = ff.init_gaussian(getkey(), P, 8, 1.0, "relu")
    split = ff.random_split(getkey(), P, 0.8)
    optimizer = optax.contrib.schedule_free_adamw(0.05, b1=0.9)
    kw = dict(split=split, log_every=10, snapshot_every=10, progress=False)
    result = ff.train(net0, optimizer, steps=20, checkpoint_dir=tmp_path, checkpoint_every=10, **kw)
    iterate, state, _ = _hand_loop(net0, optimizer, split, 20, "mean", 10)
    evaluation = optax.contrib.schedule_free_eval_params(state, iterate)
    assert tree_allclose(result.iterate, iterate, rtol=1e-10, atol=1e-12)
    assert tree_allclose(result.opt_state, state, rtol=1e-10, atol=1e-12)
    assert tree_allclose(result.net, evaluation, rtol=1e-10, atol=1e-12)
    assert not tree_allclose(evaluation, iterate, rtol=1e-3)  # the two points differ
    last = jtu.tree_map(lambda a: a[-1], result.snapshots)
    assert tree_allclose(last, evaluation, rtol=1e-10, atol=1e-12)
    x, y = split.pairs(split.train)
    np.testing.assert_allclose(
        result.history.train_loss[-1], ff.loss(evaluation, x, y, "mean"), rtol=1e-10
    )
    # Resumed from step 10, the run continues from the iterate, not the evaluation point.
    for ext in ("json", "eqx", "npz"):
        (tmp_path / f"step_000000020.{ext}").unlink()
    resumed = ff.train(net0, optimizer, steps=20, checkpoint_dir=tmp_path, resume=True, **kw)
    for a, b in zip(jtu.tree_leaves(resumed), jtu.tree_leaves(result), strict=True):
        assert np.array_equal(a, b, equal_nan=True)


def test_invalid_arguments_rejected_before_compiling(getkey, tmp_path, monkeypatch):
    net0 = ff.init_gaussian(getkey(), P, M, 1.0, "relu")
    opt = optax.sgd(0.1)
    # Any compilation would go through jax.jit: make it fail loudly.
    monkeypatch.setattr(jax, "jit", lambda *a, **k: pytest.fail("compiled before checking"))
    cases = [
        (dict(steps=0), ValueError, "steps"),
        (dict(steps=2.5), TypeError, "steps"),
        (dict(steps=25, log_every=10), ValueError, "multiple of `log_every`"),
        (dict(steps=20, log_every=0), ValueError, "log_every"),
        (
            dict(steps=20, log_every=10, checkpoint_every=15, checkpoint_dir=tmp_path),
            ValueError,
            "checkpoint_every",
        ),
        (dict(steps=20, log_every=10, snapshot_every=5), ValueError, "snapshot_every"),
        (dict(steps=20, log_every=10, checkpoint_every=10), ValueError, "checkpoint_dir"),
        (dict(steps=20, log_every=10, resume=True), ValueError, "checkpoint_dir"),
        (dict(steps=20, log_every=10, reduction="max"), ValueError, "reduction"),
        (dict(steps=20, log_every=10, split=ff.full_split(9)), ValueError, "p=9"),
        (dict(steps=20, log_every=10, split=np.ones((7, 7), bool)), TypeError, "split"),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            ff.train(net0, opt, progress=False, **kwargs)
    with pytest.raises(TypeError, match="optimizer"):
        ff.train(net0, "adam", steps=10, log_every=10)
    with pytest.raises(TypeError, match="net0"):
        ff.train({"theta": net0.theta}, opt, steps=10, log_every=10)
    batched = eqx.tree_at(lambda n: (n.theta, n.xi), net0, (net0.theta[None], net0.xi[None]))
    with pytest.raises(ValueError, match="unbatched"):
        ff.train(batched, opt, steps=10, log_every=10)
    with pytest.raises(ValueError, match="name"):
        ff.get_config("nope")
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        ff.get_config("standard", learning_rate=1.0)
    for bad, match in [
        (dict(lr=-1.0), "lr"),
        (dict(p=24), "p"),
        (dict(train_fraction=1.5), "train_fraction"),
        (dict(optimizer="adam"), "optimizer"),
        (dict(steps=150), "multiple"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(b2=1.0), "b2"),
        (dict(init="x"), "init"),
    ]:
        with pytest.raises((ValueError, TypeError), match=match):
            ff.get_config("standard", **bad)
