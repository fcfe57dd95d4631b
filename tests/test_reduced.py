"""The per-frequency ODE (theory eqs. 24-26), its solves and its exact event times (eq. 35).

References are independent of the code under test: SciPy's DOP853 on the ODE in its natural
variables `(alpha, beta, D)`, `scipy.special.elliprf`, finite differences, the invariants.
Batch shapes are shared between tests so that each Diffrax solve compiles once.
"""

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.special

import fourierflow as ff

PI = np.pi
# D0 grid: aligned side and near 0, near pi/2 on both sides, near pi, the lower half-plane,
# values outside (-pi, pi], and pi itself (several spellings).
D0_GRID = np.array(
    [1e-7, 0.03, 0.5, 1.2, PI / 2 - 1e-9, PI / 2, PI / 2 + 1e-9, 2.0, 2.8, 3.1, PI - 1e-6]
    + [PI - 1e-10, -0.3, -1.5, -2.5, -(PI - 1e-8), 4.0, 7.0, PI, -PI, 3 * PI]
)
RATIOS = np.array([1.0, 0.3, 2.5])  # alpha0 / beta0: I1 < 0, I1 < 0, I1 > 0
KAPPAS = np.array([1e-3, 0.02, 0.1])
DELTAS = np.array([1e-1, 1e-2, 1e-3])
TIGHT = dfx.PIDController(rtol=1e-10, atol=1e-12)


def _grid():
    """Flat arrays (63 states): every D0 with every ratio; kappa and delta cycled."""
    D0, ratio = (x.ravel() for x in np.meshgrid(D0_GRID, RATIOS, indexing="ij"))
    n = D0.size
    beta0 = KAPPAS[np.arange(n) % 3]
    delta = DELTAS[(np.arange(n) // 3) % 3]
    return ratio * beta0, beta0, D0, delta


def _natural_ode(r):
    def f(t, y):
        return np.array(ff.reduced_vector_field(t, tuple(y), r))

    return f


def _scipy_alignment_time(alpha0, beta0, D0, p, delta):
    """Independent reference: DOP853 on (alpha, beta, D), event |sin D| = delta, cos D > 0."""

    def event(t, y):
        return np.abs(np.sin(y[2])) - delta if np.cos(y[2]) > 0 else 1.0

    event.terminal = True
    sol = scipy.integrate.solve_ivp(
        _natural_ode(p), [0, 1e3], [alpha0, beta0, D0], "DOP853", rtol=1e-13, atol=1e-16,
        events=event,
    )  # fmt: skip
    return sol.t_events[0][0]


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    both_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf (masked below)
        err = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
    return np.where(both_inf, 0.0, np.where(a == b, 0.0, err))


# --- closed forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alpha0, beta0, D0, p, delta",
    [
        (1.0, 1.0, 2.0, 23, 0.1),
        (0.02, 0.02, 0.3, 23, 0.01),
        (0.5, 1.3, -2.5, 11, 0.01),
        (2.0, 0.7, 3.0, 5, 1e-3),
        (1.0, 1.0, PI / 2 - 1e-8, 7, 0.05),
        (1.0, 1.0, -3.1, 7, 0.05),
    ],
)
def test_exact_matches_independent_ode(alpha0, beta0, D0, p, delta):
    t_ref = _scipy_alignment_time(alpha0, beta0, D0, p, delta)
    t = ff.alignment_time_exact(alpha0, beta0, D0, p, delta)
    assert _rel(t, t_ref) < 1e-11


def test_rf_duplication_matches_scipy():
    rng = np.random.default_rng(0)
    # x = u >= 0 (including 0), and y, z real or complex conjugate, at wide scale ratios.
    x = np.concatenate([[0.0, 0.0, 1e-300, 1e-16], 10 ** rng.uniform(-12, 3, 200)])
    n = x.size
    mid = 10 ** rng.uniform(-8, 2, n)
    frac = rng.uniform(-1.5, 1.0, n)  # negative: complex pair; near 1: z -> 0
    frac[:8] = [1.0, 1 - 1e-14, 0.0, -1e-3, 1.0, 0.5, -1.5, 1.0]
    real = frac >= 0
    sq = mid * np.sqrt(np.abs(frac))
    y = np.where(real, mid + sq, mid + 1j * sq)
    z = np.where(real, mid - sq + 0j, mid - 1j * sq)
    ref = np.real(scipy.special.elliprf(x + 0j, y, z))
    S, Q = np.real(y + z), np.real(y * z)
    got = np.asarray(jax.jit(ff.carlson_rf)(x, S, Q))
    assert np.max(_rel(got, ref)) < 1e-13


def test_closed_form_jax_matches_exact():
    alpha0, beta0, D0, delta = _grid()
    for p, reduction in [(23, "sum"), (97, "mean")]:
        for jax_fn, np_fn, extra in [
            (ff.alignment_time_closed_form, ff.alignment_time_exact, (delta,)),
            (ff.turning_time_closed_form, ff.turning_time, ()),
            (ff.blowup_time_closed_form, ff.blowup_time, ()),
        ]:
            args = (alpha0, beta0, D0, p, *extra)
            t_jax = np.asarray(jax_fn(*args, reduction=reduction))
            t_np = np_fn(*args, reduction=reduction)
            assert not np.any(np.isnan(t_jax)) and not np.any(np.isnan(t_np))
            assert np.max(_rel(t_jax, t_np)) < 1e-12, jax_fn.__name__


def test_exact_event_ordering_and_special_values():
    alpha0, beta0, D0, delta = _grid()
    t_turn = ff.turning_time(alpha0, beta0, D0, 23)
    t_delta = ff.alignment_time_exact(alpha0, beta0, D0, 23, delta)
    t_star = ff.blowup_time(alpha0, beta0, D0, 23)
    at_pi = np.isclose(np.remainder(D0, 2 * PI), PI, rtol=0, atol=1e-14)
    assert np.all(np.isinf(t_delta[at_pi])) and np.all(np.isinf(t_star[at_pi]))
    fin = ~at_pi
    assert np.all(np.isfinite(t_star[fin]))
    assert np.all(t_turn[fin] <= t_delta[fin]) and np.all(t_delta[fin] < t_star[fin])
    B0 = np.abs(np.angle(np.exp(1j * D0)))
    assert np.all(t_turn[fin & (B0 <= PI / 2)] == 0)
    assert np.all(t_delta[(B0 <= PI / 2) & (np.abs(np.sin(D0)) <= delta)] == 0)
    # "mean" is "sum" with time scaled by n = p^2 (theory eq. 23).
    t_mean = ff.alignment_time_exact(alpha0, beta0, D0, 23, delta, reduction="mean")
    assert np.max(_rel(t_mean[fin], 23**2 * t_delta[fin])) < 1e-13


# --- the Diffrax solves ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def alignment_runs():
    """solve_alignment over the grid for three p, two tolerances and both reductions."""
    alpha0, beta0, D0, delta = _grid()
    runs = {}
    for p, reduction in [(5, "sum"), (23, "sum"), (97, "sum"), (23, "mean")]:
        for tol in ["default", "tight"]:
            # chunk_size=16: 63 states in 4 sequential chunks, the last one padded.
            kw = {} if tol == "default" else dict(stepsize_controller=TIGHT)
            kw["chunk_size"] = 16
            res = ff.solve_alignment(alpha0, beta0, D0, p, delta, reduction=reduction, **kw)
            exact = ff.alignment_time_exact(alpha0, beta0, D0, p, delta, reduction=reduction)
            runs[p, reduction, tol] = (res, exact)
    return runs


@pytest.mark.parametrize("tol, bound", [("default", 1e-5), ("tight", 1e-8)])
def test_alignment_time_matches_exact(alignment_runs, tol, bound):
    for key in [(5, "sum"), (23, "sum"), (97, "sum"), (23, "mean")]:
        res, exact = alignment_runs[key + (tol,)]
        t = np.asarray(res.ts[..., 0])
        assert res.ts.shape == (63, 1) and not np.any(np.isnan(t))
        assert np.max(_rel(t, exact)) < bound, key


def test_alignment_time_pi_and_already_aligned(alignment_runs):
    alpha0, beta0, D0, delta = _grid()
    res, _ = alignment_runs[23, "sum", "default"]
    t = np.asarray(res.ts[..., 0])
    at_pi = np.isclose(np.remainder(D0, 2 * PI), PI, rtol=0, atol=1e-14)
    assert np.all(np.isinf(t[at_pi]))
    assert np.all(np.asarray(res.result == ff.Outcome.never_aligns) == at_pi)
    assert np.all(np.asarray(res.result == ff.Outcome.event) == ~at_pi)
    # The event mask says which elements stopped on `Aligned`: all but those at pi.
    assert len(res.event_mask) == 1
    np.testing.assert_array_equal(np.asarray(res.stopped_by(ff.Aligned)), ~at_pi)
    np.testing.assert_array_equal(np.asarray(res.event_time(ff.Aligned)), t)
    already = (np.cos(D0) > 0) & (np.abs(np.sin(D0)) <= delta)
    assert np.all(t[already] == 0) and np.all(res.y_stop.beta[already] == beta0[already])
    # At pi nothing moves: the state stays the initial one (D = pi) and t_stop = 0.
    np.testing.assert_array_equal(np.asarray(res.y_stop.beta)[at_pi], beta0[at_pi])
    np.testing.assert_array_equal(np.asarray(res.y_stop.D)[at_pi], PI)
    np.testing.assert_array_equal(np.asarray(res.t_stop)[at_pi], 0.0)
    np.testing.assert_array_equal(np.asarray(res.t_stop)[~at_pi], t[~at_pi])


def test_state_at_alignment(alignment_runs):
    """At t_delta: |sin D| = delta on the aligned side, and the invariants are those at t=0."""
    alpha0, beta0, D0, delta = _grid()
    res, _ = alignment_runs[23, "sum", "tight"]
    t = np.asarray(res.ts[..., 0])
    moved = (t > 0) & np.isfinite(t)
    state = res.y_stop
    # ys is the same state on a time axis of length 1.
    for name in ("alpha", "beta", "D"):
        np.testing.assert_array_equal(getattr(res.ys, name)[..., 0], getattr(state, name))
    # The solve ends on the event level by construction (ell = ell_delta): D is exact there,
    # even in the fast passage near beta = 0 (D0 ~ pi, I1 > 0) where a time-stepped event
    # would lose digits; the integrated magnitudes must then satisfy the invariants.
    sin_D, cos_D = np.sin(state.D), np.cos(state.D)
    assert np.all(cos_D[moved] > 0)
    assert np.max(_rel(np.abs(sin_D[moved]), delta[moved])) < 1e-12
    I1, I2 = ff.invariants(state.alpha, state.beta, state.D)
    I1_0, I2_0 = ff.invariants(alpha0, beta0, D0)
    scale = np.asarray(state.alpha**2 + 2 * state.beta**2)
    assert np.max(np.abs(I1 - I1_0)[moved] / scale[moved]) < 1e-9
    assert np.max(_rel(I2[moved], I2_0[moved])) < 1e-9


def test_alignment_independent_steps_and_phases():
    """`shared_steps=False` steps each element alone: the same results in any batch, bitwise,
    and within tolerance of the shared-step solve and the exact time. The phases at alignment
    are those of `solve_reduced` run to the exact `t_delta`, and satisfy `D = 2 phi - psi`."""
    alpha0, beta0, D0, delta = _grid()
    phases = (0.3 + 0 * D0, 0.6 - D0)  # D0 = 2 phi0 - psi0
    kw = dict(stepsize_controller=TIGHT, phases=phases, chunk_size=16)
    alone = ff.solve_alignment(alpha0, beta0, D0, 23, delta, shared_steps=False, **kw)
    kw["phases"] = tuple(x[::-1] for x in phases)
    reverse = ff.solve_alignment(
        alpha0[::-1], beta0[::-1], D0[::-1], 23, delta[::-1], shared_steps=False, **kw
    )
    shared = ff.solve_alignment(
        alpha0, beta0, D0, 23, delta, phases=phases, stepsize_controller=TIGHT
    )
    t_alone = np.asarray(alone.ts[..., 0])
    np.testing.assert_array_equal(t_alone, np.asarray(reverse.ts[..., 0])[::-1])
    exact = ff.alignment_time_exact(alpha0, beta0, D0, 23, delta)
    assert np.max(_rel(t_alone, exact)) < 1e-9
    assert np.max(_rel(t_alone, np.asarray(shared.ts[..., 0]))) < 1e-9
    state = shared.y_stop
    moved = np.isfinite(exact) & (exact > 0)
    # The time-stepped solve, one element at a time (psi' ~ 1/beta makes the fast passage near
    # beta = 0 hard for it: at rtol 1e-10 it is 2e-6 off there, at 1e-12 3e-7).
    for i in np.flatnonzero(moved)[::4]:
        sol = ff.solve_reduced(
            alpha0[i],
            beta0[i],
            D0[i],
            23,
            exact[i : i + 1],
            phases=(phases[0][i], phases[1][i]),
            stepsize_controller=dfx.PIDController(rtol=1e-12, atol=1e-14),
        )
        for got, ref in ((state.phi, sol.ys.phi), (state.psi, sol.ys.psi)):
            assert abs(np.angle(np.exp(1j * (got[i] - ref[0])))) < 1e-6, i
    gap = np.angle(np.exp(1j * (2 * state.phi - state.psi - state.D)))
    assert np.max(np.abs(gap[moved])) < 1e-9


def test_alignment_failure_stays_with_its_element():
    """A chunk's shared solve that fails (here: max_steps below what one element needs) is
    redone element by element: only that element reports `max_steps_reached` (t = inf, and
    `t_stop` where it gave up), the others equal their solo solves; with throw=True the failure
    raises."""
    rng = np.random.default_rng(0)
    D0, kappa = rng.uniform(-2.0, 2.0, 64), 10 ** rng.uniform(-4, -1, 64)
    D0[5] = PI - 1e-12  # the longest solve by far
    alone = ff.solve_alignment(kappa, kappa, D0, 23, 0.01, shared_steps=False)
    steps = np.asarray(alone.stats["num_steps"])
    budget = int(np.sort(steps)[-2])  # enough for every element but #5
    res = ff.solve_alignment(kappa, kappa, D0, 23, 0.01, max_steps=budget, throw=False)
    failed = np.flatnonzero(~np.asarray(res.result == ff.Outcome.event))
    assert failed.tolist() == [5]
    assert bool((res.result == ff.Outcome.max_steps_reached)[5])
    assert not bool(res.ok[5]) and not bool(res.event_mask[0][5])
    t = np.asarray(res.ts[..., 0])
    assert np.isinf(t[5])
    # It gave up on the way: after t = 0, before the time it needs (its solo solve).
    t_alone = np.asarray(alone.ts[..., 0])
    assert 0 < float(res.t_stop[5]) < t_alone[5]
    ok = np.arange(64) != 5
    np.testing.assert_array_equal(t[ok], t_alone[ok])
    with pytest.raises(Exception, match="max_steps|maximum number of solver steps"):
        ff.solve_alignment(kappa, kappa, D0, 23, 0.01, max_steps=budget)


def test_scaling_collapse():
    """p kappa t_delta depends only on D0 and delta (theory eq. 28), to 1e-7."""
    _, kappa, D0, delta = _grid()
    scaled = [
        np.asarray(
            p * (c * kappa) * ff.alignment_time(c * kappa, c * kappa, D0, p, delta, chunk_size=16)
        )
        for p, c in [(5, 1.0), (23, 1.0), (97, 1.0), (23, 7.3), (199, 0.01)]
    ]
    assert np.max(_rel(np.stack(scaled), scaled[1][None])) < 1e-7
    T = 23 * kappa * ff.alignment_time_exact(kappa, kappa, D0, 23, delta)
    assert np.max(_rel(scaled[1], T)) < 1e-5


@pytest.fixture(scope="module")
def trajectory():
    """One solve_reduced with phases over a dense grid, at tight tolerances."""
    alpha0 = np.array([1.0, 0.5, 2.0, 1.0, 1.0, 0.8])
    beta0 = np.array([1.0, 1.2, 0.6, 1.0, 1.0, 1.0])
    D0 = np.array([2.9, -1.0, 0.4, PI - 1e-9, 5.0, PI])
    phi0 = np.array([0.3, -1.0, 2.0, 0.0, 1.0, 0.5])
    psi0 = 2 * phi0 - D0
    p = 23
    t_star = ff.blowup_time(alpha0, beta0, D0, p)
    # Eight save times before each element's blow-up, and some after the last one.
    fin = t_star[np.isfinite(t_star)]
    ts = np.unique(
        np.concatenate(
            [np.linspace(0, 1.2 * fin.max(), 9)]
            + [np.linspace(0, t, 8, endpoint=False) for t in fin]
        )
    )
    sol = ff.solve_reduced(alpha0, beta0, D0, p, ts, phases=(phi0, psi0), stepsize_controller=TIGHT)
    return dict(alpha0=alpha0, beta0=beta0, D0=D0, p=p, ts=ts, t_star=t_star, sol=sol)


def test_invariants_conserved(trajectory):
    sol = trajectory["sol"]
    y = sol.ys
    I1, I2 = ff.invariants(y.alpha, y.beta, y.D)
    I1_0, I2_0 = ff.invariants(trajectory["alpha0"], trajectory["beta0"], trajectory["D0"])
    # Held values (after the blow-up guard) are the state at the stop: conserved too.
    finite = np.isfinite(np.asarray(y.beta))
    assert np.all(finite)
    # |sin D| from the float D output has relative precision ~1e-16 / min(B, pi - B).
    B = np.abs(np.angle(np.exp(1j * np.asarray(y.D))))
    # I1 = alpha^2 - 2 beta^2 is a difference: relative to the size of its terms at time t.
    scale = np.asarray(y.alpha**2 + 2 * y.beta**2)
    assert np.max(np.abs(I1 - I1_0[:, None])[finite] / scale[finite]) < 1e-9
    # The last element starts at D0 = pi: float64's pi is treated as pi itself (I2 = 0).
    ok = finite & (B > 1e-4) & (PI - B > 1e-4)
    ok[-1] = False
    assert np.max(_rel(I2, np.broadcast_to(I2_0[:, None], I2.shape))[ok]) < 1e-9


def test_trajectory_matches_independent_ode(trajectory):
    sol, ts, p = trajectory["sol"], trajectory["ts"], trajectory["p"]
    for i in range(5):
        keep = ts < 0.999 * trajectory["t_star"][i]
        y0 = [trajectory["alpha0"][i], trajectory["beta0"][i], trajectory["D0"][i]]
        ref = scipy.integrate.solve_ivp(
            _natural_ode(p), [0, ts[keep][-1]], y0, "DOP853", t_eval=ts[keep], rtol=1e-13,
            atol=1e-16,
        )  # fmt: skip
        assert np.max(_rel(sol.ys.alpha[i][keep], ref.y[0])) < 1e-6
        assert np.max(_rel(sol.ys.beta[i][keep], ref.y[1])) < 1e-6
        dD = np.angle(np.exp(1j * (np.asarray(sol.ys.D[i][keep]) - ref.y[2])))
        assert np.max(np.abs(dD)) < 1e-6


def test_blowup_guard_and_D_range(trajectory):
    """The default `BlowUp(1e6)` guard stops each blowing-up element just before its exact
    `t_star` (eq. 30); later saved values hold the state at the stop. D stays in its initial
    half-plane, B decreases, and 2 phi - psi = D along the solve."""
    sol, ts, t_star = trajectory["sol"], trajectory["ts"], trajectory["t_star"]
    finite = np.isfinite(t_star)
    t_stop = np.asarray(sol.t_stop)
    np.testing.assert_array_equal(np.asarray(sol.result == ff.Outcome.event), finite)
    np.testing.assert_array_equal(np.asarray(sol.result == ff.Outcome.successful), ~finite)
    assert len(sol.event_mask) == 1 and isinstance(sol.events[0], ff.BlowUp)
    np.testing.assert_array_equal(np.asarray(sol.event_mask[0]), finite)
    np.testing.assert_array_equal(np.asarray(sol.stopped_by(ff.BlowUp)), finite)
    assert not np.any(np.asarray(sol.stopped_by(ff.Aligned)))
    # The guard stops just before t_star (beta ~ 1/(2p (t_star - t)) reaches beta0 * 1e6).
    assert np.all(t_stop[finite] < t_star[finite])
    assert np.all(t_stop[finite] > t_star[finite] * (1 - 1e-4))
    np.testing.assert_array_equal(t_stop[~finite], ts[-1])  # completed: ends at ts[-1]
    np.testing.assert_array_equal(np.asarray(sol.event_time(ff.BlowUp))[finite], t_stop[finite])
    assert np.all(np.isinf(np.asarray(sol.event_time(ff.BlowUp))[~finite]))
    # There beta = 1e6 beta0, up to the event's root find in time (1e-13 relative in time is
    # ~1e-6 relative in beta, which grows like 1/(t_star - t)).
    beta0 = trajectory["beta0"]
    np.testing.assert_allclose(np.asarray(sol.y_stop.beta)[finite], 1e6 * beta0[finite], rtol=1e-5)
    valid = np.asarray(sol.valid)
    np.testing.assert_array_equal(valid, ts[None, :] <= t_stop[:, None])
    assert np.all(valid[~finite]) and np.all(~valid[finite][:, -1])
    for name in ("alpha", "beta", "D", "phi", "psi"):
        arr, held = np.asarray(getattr(sol.ys, name)), np.asarray(getattr(sol.y_stop, name))
        assert np.all(np.isfinite(arr))
        # Past the stop every saved value is the state at the stop.
        np.testing.assert_array_equal(arr, np.where(valid, arr, held[:, None]))
    D = np.asarray(sol.ys.D)
    ok = np.isfinite(D)
    assert np.all((D[ok] >= 0) & (D[ok] < 2 * PI))
    # D never crosses 0 or pi: it stays in its initial half-plane, and B decreases.
    upper = np.sin(trajectory["D0"]) > 0
    for i in range(D.shape[0]):
        Di = D[i][ok[i]]
        assert np.all(Di <= PI) if upper[i] else np.all(Di >= PI)
        B = np.minimum(Di, 2 * PI - Di)
        assert np.all(np.diff(B) <= 1e-12)
    assert np.all(D[-1] == PI)  # the unstable fixed point stays put
    # The phases: 2 phi - psi = D along the solve.
    dD = 2 * np.asarray(sol.ys.phi)[ok] - np.asarray(sol.ys.psi)[ok] - D[ok]
    assert np.max(np.abs(np.angle(np.exp(1j * dD)))) < 1e-8


def test_solve_reduced_hits_exact_event_times():
    """At the exact turning and alignment times the solve has cos D = 0 and |sin D| = delta."""
    cases = [(1.0, 1.0, 2.5, 0.01), (0.4, 1.0, -2.0, 0.05), (2.0, 0.5, 3.0, 0.001)]
    for alpha0, beta0, D0, delta in cases:
        t_turn = ff.turning_time(alpha0, beta0, D0, 11)
        t_delta = ff.alignment_time_exact(alpha0, beta0, D0, 11, delta)
        ts = np.array([t_turn, t_delta])
        D = ff.solve_reduced(alpha0, beta0, D0, 11, ts, stepsize_controller=TIGHT).ys.D
        assert abs(np.cos(D[0])) < 1e-8
        assert abs(abs(np.sin(D[1])) - delta) < 1e-8 * delta and np.cos(D[1]) > 0


def test_solve_reduced_stops_on_alignment():
    """`event=Aligned(delta)` stops each element at its exact `t_delta` (eq. 35) with
    |sin D| = delta on the aligned side, and later saved values hold that state; an element
    already aligned stops at t = 0; D0 = pi is `Outcome.never_aligns` (with the `BlowUp` guard
    for the collapse of beta at pi when alpha0^2 > 2 beta0^2)."""
    alpha0, beta0, D0, delta = _grid()
    exact = ff.alignment_time_exact(alpha0, beta0, D0, 23, delta)
    at_pi = np.isinf(exact)
    ts = np.linspace(0.0, 1.5 * exact[~at_pi].max(), 4)
    sol = ff.solve_reduced(
        alpha0,
        beta0,
        D0,
        23,
        ts,
        event=[ff.Aligned(delta), ff.BlowUp(1e6)],
        stepsize_controller=TIGHT,
        chunk_size=16,
    )
    np.testing.assert_array_equal(np.asarray(sol.result == ff.Outcome.never_aligns), at_pi)
    np.testing.assert_array_equal(np.asarray(sol.result == ff.Outcome.event), ~at_pi)
    np.testing.assert_array_equal(np.asarray(sol.stopped_by(ff.Aligned)), ~at_pi)
    t = np.asarray(sol.event_time(ff.Aligned))
    assert np.max(_rel(t, exact)) < 1e-8
    already = exact == 0
    assert np.any(already) and np.all(t[already] == 0)
    moved = ~at_pi & ~already
    D = np.asarray(sol.y_stop.D)
    # A time-stepped event loses digits of D in the fast passage near beta = 0 (D0 ~ pi,
    # I1 > 0: beta ~ 1e-7 beta0 at alignment, where D turns fastest): 1e-6 there.
    fast = np.asarray(sol.y_stop.beta) < 1e-3 * beta0
    err = _rel(np.abs(np.sin(D)), delta)
    assert np.max(err[moved & ~fast]) < 1e-10 and np.max(err[moved & fast]) < 1e-5
    assert np.all(np.cos(D[moved]) > 0)
    valid = np.asarray(sol.valid)
    ys_D = np.asarray(sol.ys.D)
    np.testing.assert_array_equal(ys_D, np.where(valid, ys_D, D[:, None]))


def test_solve_reduced_aligned_without_save_times():
    """With no save times and no `t1` the solve runs until its event (t1 = inf) and saves the
    state there. D0 = pi, which never aligns, is reported as `Outcome.never_aligns` (its
    documented outcome), not a solver failure."""
    D0 = np.array([2.0, 0.001, PI])
    sol = ff.solve_reduced(1.0, 1.0, D0, 23, event=ff.Aligned(0.01), stepsize_controller=TIGHT)
    exact = ff.alignment_time_exact(1.0, 1.0, D0, 23, 0.01)
    never = np.asarray(sol.result == ff.Outcome.never_aligns)
    assert never.tolist() == [False, False, True]
    assert np.asarray(sol.result == ff.Outcome.event)[:2].all()
    t = np.asarray(sol.event_time(ff.Aligned))
    assert _rel(t[0], exact[0]) < 1e-8 and t[1] == 0 and np.isinf(t[2])
    assert abs(abs(np.sin(float(sol.ys.D[0, -1]))) - 0.01) < 1e-10


def test_grad_finite_at_pi_and_when_aligned():
    """The state at alignment does not move with D0 at pi (never aligns) or when already
    aligned: exactly zero gradient there (finite, not NaN); nonzero where it must move."""

    def beta_end(D0):
        return jnp.sum(ff.solve_alignment(0.1, 0.1, D0, 23, 0.01).y_stop.beta)

    g = np.asarray(jax.grad(beta_end)(jnp.array([PI, 1e-4, 1.0])))
    assert g[0] == 0 and g[1] == 0 and np.isfinite(g[2]) and g[2] != 0


def test_grad_vmap_jit_matches_fd_of_exact():
    """jax.grad of the event time w.r.t. D0 and kappa (under vmap and jit) vs FD of exact."""

    def t_delta(D0, kappa):
        return ff.alignment_time(kappa, kappa, D0, 23, 0.01, stepsize_controller=TIGHT)

    D0 = jnp.array([0.4, 2.0, -2.9])
    kappa = jnp.array([0.02, 0.05, 0.01])
    gD, gk = jax.jit(jax.vmap(jax.grad(t_delta, argnums=(0, 1))))(D0, kappa)
    D0, kappa = np.asarray(D0), np.asarray(kappa)
    h = 1e-6
    fdD = (
        ff.alignment_time_exact(kappa, kappa, D0 + h, 23, 0.01)
        - ff.alignment_time_exact(kappa, kappa, D0 - h, 23, 0.01)
    ) / (2 * h)
    hk = 1e-6 * kappa
    fdk = (
        ff.alignment_time_exact(kappa + hk, kappa + hk, D0, 23, 0.01)
        - ff.alignment_time_exact(kappa - hk, kappa - hk, D0, 23, 0.01)
    ) / (2 * hk)
    assert np.max(_rel(gD, fdD)) < 1e-5
    assert np.max(_rel(gk, fdk)) < 1e-5
    assert np.all(np.sign(fdD) == np.sign(np.sin(D0)))  # larger B0, longer time
    # kappa enters only as 1/(p kappa): d t / d kappa = -t / kappa.
    t = ff.alignment_time_exact(kappa, kappa, D0, 23, 0.01)
    assert np.max(_rel(gk, -t / kappa)) < 1e-5


def test_vector_field_conserves_invariants():
    """The natural-variable field is tangent to the level sets of I1, I2 (autodiff)."""
    rng = np.random.default_rng(1)
    y = tuple(
        jnp.asarray(v)
        for v in (rng.uniform(0.1, 2, 8), rng.uniform(0.1, 2, 8), rng.uniform(-PI, PI, 8))
    )
    f = ff.reduced_vector_field(0.0, y, 7.0)
    for k in range(2):

        def inv(*y, k=k):
            return ff.invariants(*y)[k].sum()

        grads = jax.grad(inv, argnums=(0, 1, 2))(*y)
        rate = sum(g * fi for g, fi in zip(grads, f, strict=True))
        assert np.max(np.abs(rate)) < 1e-12 * np.max(np.abs(np.stack(f)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ff.alignment_time(1.0, 1.0, 1.0, 24, 0.1), "p"),
        (lambda: ff.alignment_time(1.0, 1.0, 1.0, 23, 1.5), "delta"),
        (lambda: ff.alignment_time(1.0, 1.0, 1.0, 23, 0.0), "delta"),
        (lambda: ff.alignment_time(0.0, 1.0, 1.0, 23, 0.1), "alpha0"),
        (lambda: ff.alignment_time(1.0, -1.0, 1.0, 23, 0.1), "beta0"),
        (lambda: ff.alignment_time_exact(1.0, 1.0, 1.0, 2, 0.1), "p"),
        (lambda: ff.alignment_time_exact(-1.0, 1.0, 1.0, 23, 0.1), "alpha0"),
        (lambda: ff.alignment_time_closed_form(1.0, 1.0, 1.0, 23, 1.0), "delta"),
        (lambda: ff.solve_reduced(1.0, 1.0, np.nan, 23, [0.0, 1.0]), "D0"),
        (lambda: ff.solve_reduced(1.0, 1.0, 1.0, 23, [1.0, 0.0]), "ts"),
        (lambda: ff.solve_reduced(1.0, 1.0, 1.0, 23, [0.0], reduction="avg"), "reduction"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
