"""Theory functions (theory eqs. 32, 38-41): bounds, the magnitude law and the lottery race.

Checked against the per-frequency ODE solves (`solve_alignment`, `solve_reduced`, themselves
checked against independent references in test_reduced.py) and against closed forms.
"""

import warnings

import diffrax as dfx
import numpy as np
import pytest

import fourierflow as ff

PI = np.pi
TIGHT = dfx.PIDController(rtol=1e-10, atol=1e-12)


def test_magnitude_at_alignment_matches_ode():
    """beta(t_delta) / kappa = R with R (2R^2 - 1) = |sin D0| / delta (eq. 32)."""
    rng = np.random.default_rng(0)
    D0 = np.concatenate([rng.uniform(-PI, PI, 40), [PI - 1e-6, -(PI - 1e-3), 0.001, PI]])
    delta = np.where(np.arange(D0.size) % 2 == 0, 1e-2, 1e-3)
    kappa = 10 ** rng.uniform(-3, -1, D0.size)
    R = np.asarray(ff.magnitude_at_alignment(D0, delta))
    res = ff.solve_alignment(kappa, kappa, D0, 23, delta, stepsize_controller=TIGHT)
    beta = np.asarray(res.y_stop.beta) / kappa
    t = np.asarray(res.ts[..., 0])
    fin = np.isfinite(t)
    assert np.max(np.abs(beta[fin] / R[fin] - 1)) < 1e-7
    # The law itself, and the special values.
    moved = fin & (t > 0)
    lhs = R[moved] * (2 * R[moved] ** 2 - 1)
    assert np.allclose(lhs, np.abs(np.sin(D0[moved])) / delta[moved], rtol=1e-13)
    never = np.asarray(res.result == ff.Outcome.never_aligns)
    assert R[-1] == np.inf and never[-1] and not np.any(never[:-1])
    assert R[-2] == 1.0 and t[-2] == 0  # already aligned: t_delta = 0, beta = kappa


def test_alignment_time_bound_form():
    """The Thm 5.3 form: values, the D0 -> -D0 symmetry and the reduction scaling."""
    kappa, D0, delta = 0.01, np.array([0.5, 2.0, -2.0, 3.0, PI]), 0.01
    bound = np.asarray(ff.alignment_time_bound(kappa, D0, 23, delta))
    expected = (
        1 - (delta / np.abs(np.sin(D0))) ** (1 / 3) + np.maximum(np.abs(D0) - PI / 2, 0)
    ) / (23 * kappa)
    assert np.allclose(bound[:4], expected[:4], rtol=1e-14)
    assert bound[1] == bound[2]
    mean = np.asarray(ff.alignment_time_bound(kappa, D0[:4], 23, delta, reduction="mean"))
    assert np.allclose(mean, 23**2 * bound[:4], rtol=1e-14)
    # D0 = 3pi is D0 = pi: taken in (-pi, pi].
    assert np.allclose(
        ff.alignment_time_bound(kappa, 3 * PI - 0.1, 23, delta),
        ff.alignment_time_bound(kappa, PI - 0.1, 23, delta),
        rtol=1e-12,
    )


def test_alignment_time_bound_ratio_band_and_breakdown_near_pi():
    """t_delta / bound stays in [0.5, 2] while |sin D0| > 2 delta (measured: 0.55 .. 1.70).

    Near D0 = pi the paper's form breaks down: `(delta/|sin D0|)^(1/3)` exceeds
    `1 + |D0| - pi/2`, so the "bound" turns negative, while `t_delta` grows like
    `log(1/(pi - |D0|)) / (2 sqrt(2) p kappa)` (escape from the fixed point alpha = 0,
    beta = kappa/sqrt 2, where `d log tan(D/2) / dt = -4 p beta`).
    """
    D0 = np.linspace(0.2, PI - 1e-2, 200)
    for delta in (1e-1, 1e-2, 1e-3):
        D = D0[np.abs(np.sin(D0)) > 2 * delta]
        t = ff.alignment_time_exact(1.0, 1.0, D, 23, delta)
        ratio = t / np.asarray(ff.alignment_time_bound(1.0, D, 23, delta))
        assert 0.5 < ratio.min() and ratio.max() < 2
    near_pi = PI - np.array([1e-2, 1e-4, 1e-6, 1e-8])
    t = ff.alignment_time_exact(1.0, 1.0, near_pi, 23, 1e-2)
    bound = np.asarray(ff.alignment_time_bound(1.0, near_pi, 23, 1e-2))
    assert np.all(bound[1:] < 0) and np.all(np.diff(t) > 0)
    slope = np.diff(t) / np.diff(-np.log(PI - near_pi))
    assert np.isclose(23 * slope[-1], 1 / (2 * np.sqrt(2)), rtol=1e-4)


def test_not_prime_warns():
    with pytest.warns(UserWarning, match="not prime"):
        ff.alignment_time_bound(0.01, 1.0, 21, 0.01)
    with pytest.warns(UserWarning, match="not prime"):
        ff.dominance_time_bound(0.01, 15, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ff.alignment_time_bound(0.01, 1.0, 23, 0.01)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ff.alignment_time_bound(0.01, 1.0, 22, 0.01), "p"),
        (lambda: ff.alignment_time_bound(-0.01, 1.0, 23, 0.01), "kappa"),
        (lambda: ff.magnitude_at_alignment(1.0, 1.0), "delta"),
        (lambda: ff.dominance_time(0.01, np.ones((2, 11)), 23, 1.5), "eps"),
        (lambda: ff.dominance_time(0.01, np.ones(1), 23, 0.1), "D0"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.fixture(scope="module")
def race():
    rng = np.random.default_rng(3)
    p, K, kappa = 23, 11, 0.01
    D0 = rng.uniform(-PI, PI, (6, K))
    res = ff.solve_dominance(kappa, D0, p, 0.1)
    return dict(p=p, kappa=kappa, D0=D0, res=res, t=np.asarray(res.ts[..., 0]))


def test_dominance_time_ratio_and_winner(race):
    """At t_eps the runner-up has beta = eps * beta_winner; the winner is argmin_k B_k(0)."""
    p, kappa, D0, res, t = race["p"], race["kappa"], race["D0"], race["res"], race["t"]
    assert np.all(np.asarray(res.result == ff.Outcome.event))
    assert not np.any(np.asarray(res.event_mask[0]))  # dominance, not the blow-up guard
    assert res.ts.shape == (6, 1) and res.ys.beta.shape == (6, 1, 11)
    np.testing.assert_array_equal(np.asarray(res.t_stop), t)
    B0 = np.abs(np.angle(np.exp(1j * D0)))
    assert np.all(res.winner == np.argmin(B0, axis=1) + 1)
    for i in range(D0.shape[0]):
        # An independent solve of every frequency to the reported time.
        sol = ff.solve_reduced(kappa, kappa, D0[i], p, t[i : i + 1], stepsize_controller=TIGHT)
        assert np.all(np.asarray(sol.result == ff.Outcome.successful))
        beta = np.asarray(sol.ys.beta[:, 0])
        # The state the dominance solve reports there is that of the independent solve (to
        # the default rtol 1e-8 amplified by the near blow-up of the winner: ~2e-5 at most).
        np.testing.assert_allclose(np.asarray(res.ys.beta[i, 0]), beta, rtol=1e-4)
        w = res.winner[i] - 1
        assert np.argmax(beta) == w
        # The race is fast at t_eps (beta_w nearly blows up): 1e-4 in the ratio is ~1e-9 in t.
        assert abs(np.max(np.delete(beta, w)) / beta[w] - 0.1) < 1e-4
        # Lemma C.3: the ranking of beta_k is the reverse ranking of B_k(0).
        assert np.all(np.argsort(-beta) == np.argsort(B0[i]))
    # Before the winner's blow-up, and after its alignment... t_eps < t_star(winner).
    t_star = ff.blowup_time(kappa, kappa, D0[np.arange(D0.shape[0]), res.winner - 1], p)
    assert np.all(t < t_star)


def test_dominance_time_scaling_and_bound(race):
    """p kappa t_eps is independent of p and kappa (eq. 28 scaling); compare with Cor 6.1
    (eq. 41)."""
    p, kappa, D0, t = race["p"], race["kappa"], race["D0"], race["t"]
    other = ff.dominance_time(7 * kappa, D0, 47, 0.1)
    assert np.allclose(47 * 7 * kappa * np.asarray(other), p * kappa * t, rtol=1e-6)
    bound = np.asarray(ff.dominance_time_bound(kappa, p, 0.1))
    ratio = t / bound
    assert np.all((ratio > 0.01) & (ratio < 10))


def test_dominance_tie_is_inf():
    D0 = np.array([[0.5, -0.5, 2.0, 3.0]])  # two frequencies share the smallest B0
    res = ff.solve_dominance(0.01, D0, 23, 0.1)
    assert np.isinf(res.ts[0, 0])
    assert bool((res.result == ff.Outcome.no_unique_winner)[0]) and not bool(res.ok[0])
    assert not bool(res.event_mask[0][0])
