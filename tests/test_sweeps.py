"""Tests of the sweep machinery: device counts, chunking, shards, save/load, outcomes."""

import json
import math
import os
import subprocess
import sys
import textwrap

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fourierflow as ff

# Every outcome by name, spelled out here (an independent list: `describe` counts by name).
OUTCOMES = (
    "successful",
    "event",
    "never_aligns",
    "no_unique_winner",
    "max_steps_reached",
    "nonfinite",
    "solver_failed",
    "missing",
)


def _names(outcome):
    """The name of each element's outcome, as a NumPy string array."""
    hits = [np.asarray(outcome == getattr(ff.Outcome, name)) for name in OUTCOMES]
    assert np.all(np.sum(hits, axis=0) == 1)  # every element has exactly one outcome
    return np.asarray(OUTCOMES)[np.argmax(hits, axis=0)]


def _riccati(x):
    """y' = y^2 from y0 to t1: y = y0 / (1 - y0 t), a blow-up at t = 1/y0 when y0 > 0."""
    term = dfx.ODETerm(lambda t, y, args: y**2)
    sol = dfx.diffeqsolve(
        term,
        dfx.Tsit5(),
        0.0,
        x["t1"],
        None,
        x["y0"],
        stepsize_controller=dfx.PIDController(rtol=1e-10, atol=1e-10),
        max_steps=256,
        throw=False,
    )
    return {"y1": sol.ys[-1], "steps": sol.stats["num_steps"]}, sol.result


def _inputs(n=37, seed=0):
    rng = np.random.default_rng(seed)
    return {"y0": rng.uniform(-1.0, 0.9, n), "t1": rng.uniform(0.1, 1.0, n)}


def test_sweep_matches_closed_form_and_isolates_failures():
    x = _inputs()
    x["y0"][5] = 4.0  # blows up at t = 0.25 < t1
    x["t1"][5] = 1.0
    r = ff.sweep(_riccati, x, chunk_size=8, progress=False)
    assert r.n == 37 and isinstance(r.outcome, ff.Outcome)
    assert np.asarray(r.outcome == ff.Outcome.successful).shape == (37,)
    bad = np.flatnonzero(~r.ok)
    assert bad.tolist() == [5]
    # The outcome names the reason (the step budget, a non-finite state or a solver failure),
    # translated from Diffrax's RESULTS; the others are "successful".
    names = _names(r.outcome)
    assert names[5] in {"max_steps_reached", "nonfinite", "solver_failed"}
    assert r.describe() == {"successful": 36, str(names[5]): 1}
    good = r.ok
    exact = x["y0"] / (1 - x["y0"] * x["t1"])
    np.testing.assert_allclose(r["y1"][good], exact[good], rtol=1e-8)
    np.testing.assert_array_equal(r["y0"], x["y0"])


def test_nonfinite_output_is_flagged():
    def f(x):
        return {"s": jnp.sqrt(x["a"])}, ff.Outcome.successful

    r = ff.sweep(f, {"a": np.array([1.0, -1.0, 4.0])}, progress=False)
    assert _names(r.outcome).tolist() == ["successful", "nonfinite", "successful"]
    assert r.ok.tolist() == [True, False, True]
    assert r.describe() == {"successful": 2, "nonfinite": 1}
    np.testing.assert_allclose(r["s"][[0, 2]], [1.0, 2.0])


def _newton_sqrt(x):
    """sqrt(a) by Newton's method in a while loop with a per-element iteration count (cheap
    to compile, and like an adaptive solve it runs in lock-step under vmap); a < 0 fails."""

    def body(carry):
        y, k = carry
        return 0.5 * (y + x["a"] / y), k + 1

    def cond(carry):
        y, k = carry
        return (jnp.abs(y * y - x["a"]) > 1e-12 * x["a"]) & (k < 60)

    y, k = jax.lax.while_loop(cond, body, (jnp.maximum(x["a"], 1.0), 0))
    outcome = ff.Outcome.where(k < 60, ff.Outcome.successful, ff.Outcome.max_steps_reached)
    return {"y": y, "iterations": k}, outcome


def test_chunked_equals_unchunked_and_strategies_agree():
    a = np.random.default_rng(1).uniform(1e-6, 1e6, 50)
    a[17] = -1.0  # never converges: max_steps_reached, others untouched
    whole = ff.sweep(_newton_sqrt, {"a": a}, chunk_size=1000, progress=False)
    expected = ["max_steps_reached" if i == 17 else "successful" for i in range(50)]
    assert _names(whole.outcome).tolist() == expected
    assert whole.describe() == {"successful": 49, "max_steps_reached": 1}
    np.testing.assert_allclose(whole["y"][whole.ok], np.sqrt(a[whole.ok]), rtol=1e-12)
    for chunk, strategy in ((1, "shard_map"), (7, "shard_map"), (16, "jit")):
        r = ff.sweep(_newton_sqrt, {"a": a}, chunk_size=chunk, progress=False, strategy=strategy)
        np.testing.assert_array_equal(r["y"][r.ok], whole["y"][whole.ok])
        np.testing.assert_array_equal(_names(r.outcome), _names(whole.outcome))
        np.testing.assert_array_equal(r["iterations"], whole["iterations"])


def test_shards_merge_to_whole_and_save_load_roundtrip(tmp_path):
    x = _inputs(23, seed=2)
    x["y0"][9], x["t1"][9] = 4.0, 1.0  # blows up: an outcome other than "successful" to keep
    whole = ff.sweep(_riccati, x, chunk_size=5, progress=False, metadata={"seed": 7, "note": "t"})
    assert whole.metadata["seed"] == 7 and whole.metadata["arguments"]["note"] == "t"
    paths = []
    for i in (2, 0, 3, 1):  # out of order on purpose
        part = ff.sweep(_riccati, x, chunk_size=5, progress=False, shard=f"{i}/4")
        paths.append(part.save(tmp_path / f"part{i}"))
    merged = ff.merge_sweeps([ff.load_sweep(p) for p in paths])
    np.testing.assert_array_equal(merged.index, np.arange(23))
    for name in whole.names:
        np.testing.assert_array_equal(merged[name], whole[name])
    np.testing.assert_array_equal(_names(merged.outcome), _names(whole.outcome))
    assert np.flatnonzero(~whole.ok).tolist() == [9]
    # The round trip keeps arrays, dtypes, outcomes and metadata; no temporary file is left.
    path = whole.save(tmp_path / "whole.npz")
    back = ff.load_sweep(path)
    for name in whole.names:
        assert back[name].dtype == whole[name].dtype
        np.testing.assert_array_equal(back[name], whole[name])
    assert np.all(np.asarray(back.outcome == whole.outcome))
    assert back.describe() == whole.describe()
    np.testing.assert_array_equal(back.index, whole.index)
    assert back.metadata == whole.metadata
    assert set(back.metadata["versions"]) >= {"jax", "diffrax", "equinox", "numpy"}
    assert sorted(os.listdir(tmp_path)) == sorted(
        [os.path.basename(p) for p in paths] + ["whole.npz"]
    )
    with pytest.raises(ValueError, match="more than once|more than one shard"):
        ff.merge_sweeps([ff.load_sweep(paths[0]), ff.load_sweep(paths[0])])


def test_order_and_batched_give_the_same_elements():
    """A processing `order` and a `batched` function change how elements meet in chunks, not
    the per-element results; shards of an ordered sweep still merge to the whole."""
    a = np.random.default_rng(5).uniform(1e-6, 1e6, 29)
    a[3] = -1.0
    whole = ff.sweep(_newton_sqrt, {"a": a}, chunk_size=4, progress=False)
    order = np.argsort(a)[::-1]  # by cost, say
    ordered = ff.sweep(_newton_sqrt, {"a": a}, chunk_size=4, progress=False, order=order)
    parts = [
        ff.sweep(_newton_sqrt, {"a": a}, chunk_size=4, progress=False, order=order, shard=(i, 3))
        for i in range(3)
    ]
    # A shard holds the elements at its slice of the order, reported in element order.
    np.testing.assert_array_equal(parts[1].index, np.sort(order[9:19]))
    batched = ff.sweep(jax.vmap(_newton_sqrt), {"a": a}, chunk_size=4, progress=False, batched=True)
    for r in (ordered, ff.merge_sweeps(parts), batched):
        np.testing.assert_array_equal(r.index, np.arange(29))
        np.testing.assert_array_equal(r["a"], a)
        np.testing.assert_array_equal(_names(r.outcome), _names(whole.outcome))
        np.testing.assert_array_equal(r["y"], whole["y"])
    for bad in (np.zeros(29, int), np.arange(29) - 1, np.arange(28), np.arange(29.0)):
        with pytest.raises(ValueError, match="permutation"):
            ff.sweep(_newton_sqrt, {"a": a}, progress=False, order=bad)


def test_batched_nonfinite_is_flagged_per_element():
    def f(x):  # a block of elements with a trailing axis, and one outcome per element
        outcome = jax.vmap(lambda a: ff.Outcome.successful)(x["a"])
        return {"v": jnp.sqrt(x["a"][:, None] * jnp.ones((1, 3)))}, outcome

    r = ff.sweep(f, {"a": np.array([1.0, -1.0, 4.0])}, progress=False, batched=True)
    assert _names(r.outcome).tolist() == ["successful", "nonfinite", "successful"]
    np.testing.assert_allclose(r["v"][2], [2.0, 2.0, 2.0])


def test_empty_shard():
    r = ff.sweep(_riccati, _inputs(2), shard=(0, 3), progress=False)
    assert r.n == 0 and r["y1"].shape == (0,)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(chunk_size=0), ValueError),
        (dict(chunk_size=2.5), TypeError),
        (dict(shard="3/2"), ValueError),
        (dict(shard="a/b"), ValueError),
        (dict(strategy="pmap"), ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        ff.sweep(_riccati, _inputs(4), progress=False, **kwargs)


def test_mismatched_leading_axes():
    with pytest.raises(ValueError, match="leading axis"):
        ff.sweep(_riccati, {"y0": np.zeros(3), "t1": np.ones(4)}, progress=False)


_MULTI_DEVICE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import jax
    sys.path.insert(0, {tests!r})
    from test_sweeps import _inputs, _names, _riccati
    import fourierflow as ff

    assert len(jax.devices()) == 8, jax.devices()
    x = _inputs(45, seed=3)
    x["y0"][11] = 5.0
    x["t1"][11] = 1.0
    out = {{}}
    runs = [(1, 1000, "shard_map"), (2, 8, "shard_map"), (8, 8, "shard_map"),
            (8, 1000, "shard_map"), (8, 8, "jit")]
    for nd, chunk, strategy in runs:
        r = ff.sweep(_riccati, x, devices=jax.devices()[:nd], chunk_size=chunk,
                     progress=False, strategy=strategy)
        out[f"{{nd}}-{{chunk}}-{{strategy}}"] = [r["y1"].tolist(), _names(r.outcome).tolist()]
    # The alignment sweep: one ODE system per device block (shared steps) and per element.
    rng = np.random.default_rng(6)
    D0, kappa = rng.uniform(-np.pi, np.pi, 45), 10 ** rng.uniform(-4, -1, 45)
    D0[7] = np.pi
    for shared in (True, False):
        for nd, chunk in ((1, 1000), (2, 8), (8, 16)):
            r = ff.sweep_alignment(D0, kappa, 23, 0.01, shared_steps=shared, chunk_size=chunk,
                                   devices=jax.devices()[:nd], progress=False)
            names = _names(r.outcome).tolist()
            out[f"align-{{shared}}-{{nd}}-{{chunk}}"] = [r["t_delta"].tolist(), names]
    print(json.dumps(out))
    """
)


def test_identical_on_1_2_and_8_devices():
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    env["JAX_ENABLE_X64"] = "1"
    env["JAX_PLATFORMS"] = "cpu"
    code = _MULTI_DEVICE.format(tests=os.path.dirname(__file__))
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    # Alignment: per-element steps are identical on any layout; shared steps (one system per
    # block) agree to the solver tolerance, and D0 = pi never aligns, alone, everywhere.
    for shared, rtol in (("True", 1e-6), ("False", 1e-12)):
        ref_t, ref_status = runs.pop(f"align-{shared}-1-1000")
        assert [i for i, c in enumerate(ref_status) if c != "event"] == [7]
        assert ref_status[7] == "never_aligns" and math.isinf(ref_t[7])
        for nd, chunk in ((2, 8), (8, 16)):
            t, status = runs.pop(f"align-{shared}-{nd}-{chunk}")
            assert status == ref_status
            np.testing.assert_allclose(np.delete(t, 7), np.delete(ref_t, 7), rtol=rtol)
    ref_y, ref_status = runs.pop("1-1000-shard_map")
    ref_y = np.array(ref_y, dtype=float)
    assert ref_status[11] != "successful"
    assert sum(s != "successful" for s in ref_status) == 1
    for key, (y, status) in runs.items():
        assert status == ref_status, key
        ok = np.array(status) == "successful"
        np.testing.assert_allclose(np.array(y, dtype=float)[ok], ref_y[ok], rtol=1e-12, err_msg=key)


# --- convenience sweeps of the per-frequency ODE ------------------------------------------


def _alignment_inputs(n=40, seed=4):
    rng = np.random.default_rng(seed)
    D0 = rng.uniform(-np.pi, np.pi, n)
    D0[0] = np.pi  # the unstable fixed point: never aligns
    D0[1] = 0.3 * 0.001  # already aligned at delta >= 1e-3: t = 0
    kappa = 10 ** rng.uniform(-4, -1, n)
    p = rng.choice([3, 11, 23, 199], n)
    delta = rng.choice([0.1, 0.01, 0.001], n)
    return D0, kappa, p, delta


@pytest.mark.parametrize("method", ["ode", "closed_form"])
def test_sweep_alignment_matches_exact_reference(method):
    D0, kappa, p, delta = _alignment_inputs()
    r = ff.sweep_alignment(D0, kappa, p, delta, method=method, progress=False, chunk_size=16)
    names = _names(r.outcome)
    assert names[0] == "never_aligns" and np.isinf(r["t_delta"][0])
    assert np.all(names[1:] == "event")
    assert r.describe() == {"event": 39, "never_aligns": 1}
    assert r["t_delta"][1] == 0  # already aligned
    # An independent float64 reference (scipy elliprf), called per modulus p as a user would.
    exact = np.array(
        [
            ff.alignment_time_exact(k, k, d, int(q), e)
            for k, d, q, e in zip(kappa, D0, p, delta, strict=True)
        ]
    )
    ok = r.ok
    rtol = 1e-6 if method == "ode" else 1e-10
    np.testing.assert_allclose(r["t_delta"][ok], exact[ok], rtol=rtol, atol=0)
    np.testing.assert_allclose(r["tau"][ok], (p * kappa * exact)[ok], rtol=rtol)
    if method == "ode":
        # The state at alignment: |sin D| = delta on the aligned side, and the magnitude law
        # R (2 R^2 - 1) = |sin D0| / delta (theory eq. 32) for the elements that had to move.
        moved = ok & (r["t_delta"] > 0)
        np.testing.assert_allclose(np.abs(np.sin(r["D"][moved])), delta[moved], rtol=1e-12)
        assert np.all(np.cos(r["D"][moved]) > 0)
        R = r["beta"][moved] / kappa[moved]
        np.testing.assert_allclose(
            R * (2 * R**2 - 1), np.abs(np.sin(D0[moved])) / delta[moved], rtol=1e-6
        )


def test_sweep_alignment_mean_reduction_and_bad_input():
    D0, kappa, p, delta = (a[2:10] for a in _alignment_inputs())
    r = ff.sweep_alignment(
        D0, kappa, p, delta, reduction="mean", method="closed_form", progress=False
    )
    exact = np.array(
        [
            ff.alignment_time_exact(k, k, d, int(q), e, reduction="mean")
            for k, d, q, e in zip(kappa, D0, p, delta, strict=True)
        ]
    )
    np.testing.assert_allclose(r["t_delta"], exact, rtol=1e-10)
    np.testing.assert_allclose(r["tau"], kappa * exact / p, rtol=1e-10)
    with pytest.raises(ValueError, match="p"):
        ff.sweep_alignment(D0, kappa, 4, delta, progress=False)
    with pytest.raises(ValueError, match="delta"):
        ff.sweep_alignment(D0, kappa, p, 1.5, progress=False)
    with pytest.raises(ValueError, match="kappa"):
        ff.sweep_alignment(D0, -1.0, p, delta, progress=False)
    with pytest.raises(ValueError, match="phases"):
        ff.sweep_alignment(D0, kappa, p, delta, phases=(D0, D0 + 1.0), progress=False)


def test_sweep_lottery_order_and_winner():
    p, n = 11, 30
    K = (p - 1) // 2
    rng = np.random.default_rng(5)
    D0 = rng.uniform(0, 2 * np.pi, (n, K))
    kappa = 1e-2
    # Save until 90% of the earliest blow-up of each neuron's winner (exact, scipy).
    t_star = ff.blowup_time(kappa, kappa, D0, p).min()
    ts = np.linspace(0, 0.9 * t_star, 12)
    r = ff.sweep_lottery(D0, p, ts, kappa=kappa, progress=False, chunk_size=8)
    assert r.describe() == {"successful": n} and r["beta"].shape == (n, K, 12)
    B0 = np.minimum(D0 % (2 * np.pi), 2 * np.pi - D0 % (2 * np.pi))
    # Lemma C.3: beta_k(t) ranks in the reverse order of B_k(0), at every saved t > 0.
    order = np.argsort(B0, axis=1)
    beta_sorted = np.take_along_axis(r["beta"][:, :, 1:], order[:, :, None], axis=1)
    assert np.all(np.diff(beta_sorted, axis=1) < 0)
    np.testing.assert_array_equal(r["winner"], r["argmin_B0"])
    np.testing.assert_array_equal(r["argmin_B0"], np.argmin(B0, axis=1) + 1)
    # Decoupling: one frequency of the sweep equals a lone solve of the reduced ODE.
    tol = dfx.PIDController(rtol=1e-8, atol=1e-10)
    beta = ff.solve_reduced(kappa, kappa, D0[3, 2], p, ts, stepsize_controller=tol).ys.beta
    np.testing.assert_allclose(r["beta"][3, 2], beta, rtol=1e-10)
