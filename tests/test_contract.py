"""The solve contract: every solve through `jit`, `vmap` over a mixed batch, `grad` and
`throw=False`.

Each case builds a batch in which some elements stop on an event, one fails, one never aligns
(or never reaches its event) and one runs to its end; every element of the batched (vmapped)
and jitted solve must equal its solo solve (event times to the root tolerance, states to
1e-10) and carry the right `Outcome`. Gradients are checked against finite differences of an
independent reference (the closed form) where one exists.
"""

import dataclasses
from collections.abc import Callable

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fourierflow as ff

P = 11
K = (P - 1) // 2
TIGHT = dfx.PIDController(rtol=1e-10, atol=1e-14)


def single_frequency_net(kappa, phi, psi, k=2):
    mag = jnp.broadcast_to(jnp.where(jnp.arange(1, K + 1) == k, kappa, 0.0), (phi.size, K))
    theta = ff.from_polar(mag, jnp.broadcast_to(phi[:, None], mag.shape))
    xi = ff.from_polar(mag, jnp.broadcast_to(psi[:, None], mag.shape))
    return ff.TwoLayerNet(theta, xi, "quad")


@dataclasses.dataclass
class Case:
    """A solve and a mixed batch: `run(inputs)` solves one element (or, vmapped, the batch);
    `inputs` have a leading batch axis; `expected` the outcome names in order."""

    run: Callable
    inputs: object
    expected: list[str]
    time_tol: float = 1e-9


def _flow_case(solve):
    # Four two-neuron networks, kappa 0.05 (a different kappa for the failing one): aligned
    # first (delta large), the end of the initial stage first, neither before t1, and one
    # whose guard level is out of reach, so it runs into the blow-up and out of steps.
    kappas = jnp.array([0.05, 0.05, 0.05, 0.4])
    phis = jnp.array([[0.3, 0.2], [1.5, -0.72], [1.5, 1.4], [1.5, -0.72]])
    psis = jnp.array([[0.5, 0.5], [0.18, -2.91], [0.18, 2.8], [0.18, -2.91]])
    nets = jax.vmap(single_frequency_net)(kappas, phis, psis)
    deltas = jnp.array([0.2, 1e-3, 1e-3, 1e-3])
    levels = jnp.array([10.0, 0.06, 10.0, 1e30])
    t1 = 0.5 / (P * 0.05)

    def run(x):
        net, delta, level = x
        return solve(
            net,
            jnp.linspace(0.0, t1, 5),
            event=[ff.Aligned(delta), ff.MagnitudeAbove(level)],
            stepsize_controller=TIGHT,
            max_steps=400,
            throw=False,
        )

    expected = ["event", "event", "successful", "max_steps_reached"]
    return Case(run, (nets, deltas, levels), expected)


def _reduced_case():
    # Aligned at tolerance 0.05 (tau = 0.39); D0 = pi never aligns; the guard factor 1.5 fires
    # before alignment (which needs beta = 1.9 kappa); alignment after t1 (tau = 1.57 > 1); and
    # one with unreachable thresholds runs into the blow-up and out of steps.
    D0 = jnp.array([0.8, jnp.pi, 2.5, 3.0, 0.5])
    delta = jnp.array([0.05, 0.05, 0.05, 0.05, 1e-300])
    beta_max = jnp.array([1e6, 1e6, 1.5, 1e6, 1e100])
    t1 = 1.0 / (P * 0.02)

    def run(x):
        D0, delta, beta_max = x
        return ff.solve_reduced(
            0.02,
            0.02,
            D0,
            P,
            jnp.linspace(0.0, t1, 4),
            event=[ff.Aligned(delta), ff.BlowUp(beta_max)],
            stepsize_controller=TIGHT,
            max_steps=100,
            throw=False,
        )

    expected = ["event", "never_aligns", "event", "successful", "max_steps_reached"]
    return Case(run, (D0, delta, beta_max), expected)


def _alignment_case():
    D0 = jnp.array([0.8, jnp.pi, 1e-4, 2.0, jnp.pi - 1e-12])

    def run(D0):
        return ff.solve_alignment(
            0.02, 0.02, D0, P, 0.01, stepsize_controller=TIGHT, max_steps=120, throw=False,
            shared_steps=False, chunk_size=None,
        )  # fmt: skip

    expected = ["event", "never_aligns", "event", "event", "max_steps_reached"]
    return Case(run, D0, expected)


def _dominance_case():
    # Dominance reached; an exact tie; the guard (factor 1.5) first; a near-tie (1e-6) whose
    # race needs more steps than the budget.
    D0 = jnp.array([[0.3, 2.0, 3.0], [1.0, 1.0, 2.0], [0.5, 0.6, 3.0], [0.4, 0.4 + 1e-6, 3.0]])
    beta_max = jnp.array([1e12, 1e12, 1.5, 1e12])

    def run(x):
        D0, beta_max = x
        return ff.solve_dominance(
            0.02, D0, 7, 1e-3, event=ff.BlowUp(beta_max), stepsize_controller=TIGHT,
            max_steps=300, throw=False,
        )  # fmt: skip

    expected = ["event", "no_unique_winner", "event", "max_steps_reached"]
    return Case(run, (D0, beta_max), expected)


CASES = {
    "solve_exact": lambda: _flow_case(ff.solve_exact),
    "solve_main": lambda: _flow_case(ff.solve_main),
    "solve_reduced": _reduced_case,
    "solve_alignment": _alignment_case,
    "solve_dominance": _dominance_case,
}


def _element(tree, i):
    return jax.tree.map(lambda a: a[i], tree)


def _assert_same(solo, batched, i, time_tol):
    """Element `i` of a batched solution equals the solo solution. Where a solve failed (ran
    out of steps heading into the blow-up) only the outcome is compared: rounding differences
    of the vectorised arithmetic grow along the blow-up, so where exactly the step budget ran
    out differs (at 1e-6 here)."""
    assert ff.outcome_names(batched.result)[i] == ff.outcome_names(solo.result)
    for a, b in zip(batched.event_mask, solo.event_mask, strict=True):
        assert bool(a[i]) == bool(b)
    if not bool(solo.ok):
        return
    np.testing.assert_allclose(batched.t_stop[i], solo.t_stop, rtol=time_tol, atol=1e-300)
    np.testing.assert_array_equal(np.asarray(batched.valid)[i], np.asarray(solo.valid))
    tol = 1e-10
    for a, b in zip(jax.tree.leaves(batched.ys), jax.tree.leaves(solo.ys), strict=True):
        a, b = np.asarray(a)[i], np.asarray(b)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.max(np.abs(b)))


@pytest.mark.parametrize("name", list(CASES))
def test_vmap_jit_and_outcomes_match_solo_solves(name):
    case = CASES[name]()
    n = len(case.expected)
    solos = [case.run(_element(case.inputs, i)) for i in range(n)]
    assert [str(ff.outcome_names(s.result)) for s in solos] == case.expected
    batched = eqx.filter_jit(jax.vmap(case.run))(case.inputs)
    assert ff.outcome_names(batched.result).tolist() == case.expected
    for i, solo in enumerate(solos):
        _assert_same(solo, batched, i, case.time_tol)
        # Nothing NaN anywhere; after a stop the saved values hold the state at t_stop.
        for leaf in jax.tree.leaves(solo.ys):
            assert not np.any(np.isnan(np.asarray(leaf)))
        assert bool(jnp.all(jnp.isfinite(jnp.asarray(solo.t_stop)) | (solo.t_stop == jnp.inf)))


def test_throw_true_raises_on_failure():
    with pytest.raises(Exception, match="max_steps"):
        ff.solve_reduced(
            0.02, 0.02, 0.5, P, jnp.linspace(0.0, 1.0 / (P * 0.02), 4), stepsize_controller=TIGHT,
            max_steps=100, event=ff.BlowUp(1e100),
        )  # fmt: skip


def test_grad_of_event_times_against_the_closed_form():
    """d t_delta / d D0 through the event root find of `solve_reduced` equals finite
    differences of the elliptic closed form (the end-point solve `solve_alignment` is checked
    the same way in test_reduced.py)."""
    h = 1e-6
    D0 = 2.0
    ref = (
        ff.alignment_time_exact(0.02, 0.02, D0 + h, P, 0.01)
        - ff.alignment_time_exact(0.02, 0.02, D0 - h, P, 0.01)
    ) / (2 * h)

    def t_event(D0):
        return ff.solve_reduced(
            0.02, 0.02, D0, P, event=ff.Aligned(0.01), stepsize_controller=TIGHT
        ).t_stop

    g = jax.jit(jax.grad(t_event))(D0)
    assert abs(float(g) / float(ref) - 1) < 1e-6, (g, ref)


def test_grad_of_the_dominance_time_is_its_scaling():
    """t_eps scales as 1 / kappa (the scaled problem is kappa-free), so d t / d kappa = -t/kappa."""
    D0 = jnp.array([0.3, 2.0])
    t = lambda kappa: ff.dominance_time(kappa, D0, 5, 1e-3, stepsize_controller=TIGHT)  # noqa: E731
    kappa = 0.02
    g = jax.grad(t)(kappa)
    assert abs(float(g) / float(-t(kappa) / kappa) - 1) < 1e-6


def test_grad_of_a_flow_event_time_against_finite_differences():
    """d t_stop / d c_end of `MagnitudeAbove(c_end)` on the main flow, through the root find."""
    net0 = single_frequency_net(0.05, jnp.array([0.3]), jnp.array([0.5]))

    def t_end(level):
        return ff.solve_main(net0, event=ff.MagnitudeAbove(level), stepsize_controller=TIGHT).t_stop

    level, h = 0.1, 1e-5
    fd = (t_end(level + h) - t_end(level - h)) / (2 * h)
    g = jax.grad(t_end)(level)
    assert abs(float(g) / float(fd) - 1) < 1e-5


def test_events_are_data_not_code():
    """A new threshold reuses the compiled solve (thresholds are array fields)."""
    net0 = single_frequency_net(0.05, jnp.array([0.3]), jnp.array([0.5]))
    solve = eqx.filter_jit(
        lambda level: ff.solve_main(net0, event=ff.MagnitudeAbove(level), stepsize_controller=TIGHT)
    )
    t1 = solve(jnp.asarray(0.08)).t_stop
    t2 = solve(jnp.asarray(0.09)).t_stop
    assert float(t2) > float(t1)
    assert solve._cached._cache_size() == 1


def test_outcome_survives_files_by_name(tmp_path):
    result = ff.sweep_alignment([0.8, np.pi], 0.02, P, 0.01, method="closed_form", progress=False)
    assert result.describe() == {"event": 1, "never_aligns": 1}
    path = result.save(tmp_path / "r.npz")
    with np.load(path) as data:
        assert sorted(data["outcome_names"].tolist()) == sorted(
            ["successful", "event", "never_aligns", "no_unique_winner", "max_steps_reached",
             "nonfinite", "solver_failed", "missing"]
        )  # fmt: skip
    loaded = ff.load_sweep(path)
    assert ff.outcome_names(loaded.outcome).tolist() == ["event", "never_aligns"]


def test_float32_warns_and_rejects_tolerances_below_its_resolution():
    import warnings

    from fourierflow import _checks

    jax.config.update("jax_enable_x64", False)
    try:
        _checks._warned_float32 = False
        with pytest.warns(UserWarning, match="jax_enable_x64"):
            ff.solve_reduced(0.02, 0.02, 1.0, P, jnp.linspace(0.0, 1.0, 3))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # only once per process
            with pytest.raises(ValueError, match="rtol"):
                ff.solve_reduced(
                    0.02, 0.02, 1.0, P, jnp.linspace(0.0, 1.0, 3),
                    stepsize_controller=dfx.PIDController(rtol=1e-10, atol=1e-12),
                )  # fmt: skip
    finally:
        jax.config.update("jax_enable_x64", True)
