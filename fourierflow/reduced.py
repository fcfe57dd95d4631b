"""The per-frequency ODE (eq. 6.1, Lemma B.8), its invariants and its closed form (SPEC 8, 10).

For one (neuron, frequency) of the main flow, with rate `r = p` (`reduction="sum"`) or `1/p`
(`"mean"`):

    alpha' = 2r alpha beta cos D,   beta' = r alpha^2 cos D,   D' = -r (4 beta + alpha^2/beta) sin D
    phi'   = -2r beta sin D,        psi'  = r alpha^2 sin D / beta

`I1 = alpha^2 - 2 beta^2` and `I2 = alpha^2 beta sin D` are conserved, so `v = beta^2` obeys
`(v')^2 = 4 r^2 P(v)`, `P(v) = v (2v + I1)^2 - I2^2`, and every event time is an elliptic
integral (Carlson's `R_F`).

Numerical choices (why the solver does not integrate `(alpha, beta, D)` directly):

- Time and magnitudes are made dimensionless with `s = beta0`: `a = alpha/s`, `b = beta/s`,
  `tau = r s t`. With `alpha0 = beta0 = kappa` the scaled problem is the same for every `p`,
  `kappa` and reduction, so `p kappa t_delta` is independent of them to rounding (SPEC 8).
- The state is `(log a, log b, ell)` with `ell = log tan(|D|/2)`, and the half-plane sign of
  `D` kept aside (`D` never crosses 0 or pi). Then `ell' = -(4b + a^2/b)` is independent of `D`
  and `sin D = sech(ell)`, `cos D = -tanh(ell)` keep full relative precision both near
  alignment (`D -> 0`, `ell -> -inf`) and near the unstable point (`D -> pi`, `ell -> +inf`),
  where `D` itself loses every digit of `pi - D`. Log-magnitudes make the tolerances relative
  and keep the finite-time blow-up (`beta ~ 1/(2r (t_star - t))`) well scaled.
- Alignment times (`solve_alignment`) use `ell` itself as the independent variable: it falls
  strictly (`ell' = -(4b + a^2/b)`), so the solve runs from `ell0` to the event level
  `ell_delta = -arccosh(1/delta)` with `tau` as a state, and the event is its end point: no
  root find, and a batch, all ending at the same rescaled `u = 1`, is one ODE system.
- The closed forms parametrise the trajectory by the turning point (`cos D = 0`, where
  `beta_t^2` is the largest root `e1` of `P`) and the "level" `m = alpha^2 beta = |I2|/|sin D|`
  (`m = |I2|` at the turning point, `|I2|/delta` at alignment, `inf` at blow-up). With
  `g = alpha_t^2 / 2` and `u = v - e1`, the other two roots enter `R_F` only through
  `y + z = 2u + 2g + e1` and `y z = u^2 + u (e1 + 2g) + g (g + 2 e1)`: sums of positive terms,
  free of cancellation (real and complex-conjugate roots alike).
"""

import functools
import math
from typing import Literal

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
import scipy.special

from ._checks import check_in_open_interval, check_modulus, check_positive, check_reduction
from ._types import Array, ArrayLike, Float, Int, Reduction
from ._fourier import wrap_angle

# Status codes of `AlignmentResult.status` / `ReducedSolution.status`.
ALIGNED = 0  # the event was reached (alignment, or a solve that ran to its last time)
NEVER_ALIGNS = 1  # D0 = pi (mod 2pi): the unstable fixed point, t = inf
MAGNITUDE_GUARD = 2  # beta left [beta0 / beta_max^2, beta0 * beta_max] first (blow-up guard)
SOLVER_FAILED = 3  # diffrax reported a failure (e.g. max_steps) with throw=False
STATUS_MESSAGES = (
    "aligned / completed",
    "D0 = pi (mod 2pi) is the unstable fixed point: never aligns (t = inf)",
    "the magnitude guard (blow-up) fired before the event",
    "the ODE solver failed (see diffrax RESULTS; e.g. max_steps reached)",
)

# Float64 cannot hold pi: a D0 within this many ulps of pi (mod 2pi) is pi itself.
_PI_ULPS = 4


def reduced_rate(p: int, reduction: Reduction = "sum") -> float:
    """The rate `r` of the reduced ODE: `p` for `reduction="sum"`, `1/p` for `"mean"` (SPEC 8).

    **Arguments:**

    - `p`: the modulus (odd, >= 3).
    - `reduction`: `"sum"` or `"mean"`.

    **Returns:**

    The Python float `r`.
    """
    p = check_modulus(p)
    return float(p) if check_reduction(reduction) == "sum" else 1.0 / p


def reduced_vector_field(t, y, args):
    """The per-frequency ODE of SPEC 8 (eq. 6.1, Lemma B.8) in its natural variables.

    **Arguments:**

    - `t`: time (unused: the system is autonomous).
    - `y`: `(alpha, beta, D)` or `(alpha, beta, D, phi, psi)`, a tuple of arrays.
    - `args`: the rate `r` (`p` for `reduction="sum"`, `1/p` for `"mean"`; see `reduced_rate`).

    **Returns:**

    The time derivative, a tuple of the same structure as `y`.
    """
    del t
    r = args
    alpha, beta, D = y[:3]
    cos_D, sin_D = jnp.cos(D), jnp.sin(D)
    d_alpha = 2 * r * alpha * beta * cos_D
    d_beta = r * alpha**2 * cos_D
    d_D = -r * (4 * beta + alpha**2 / beta) * sin_D
    if len(y) == 3:
        return d_alpha, d_beta, d_D
    return d_alpha, d_beta, d_D, -2 * r * beta * sin_D, r * alpha**2 * sin_D / beta


def invariants(
    alpha: Float[ArrayLike, "*batch"],
    beta: Float[ArrayLike, "*batch"],
    D: Float[ArrayLike, "*batch"],
) -> tuple[Float[Array, "*batch"], Float[Array, "*batch"]]:
    """The two conserved quantities of the reduced ODE (SPEC 8).

    **Arguments:**

    - `alpha`, `beta`, `D`: states (broadcast together).

    **Returns:**

    `(I1, I2) = (alpha^2 - 2 beta^2, alpha^2 beta sin D)`.
    """
    alpha, beta, D = jnp.broadcast_arrays(*(jnp.asarray(x, float) for x in (alpha, beta, D)))
    return alpha**2 - 2 * beta**2, alpha**2 * beta * jnp.sin(D)


# ---------------------------------------------------------------------------------------------
# Shared algebra of the closed forms (NumPy or jax.numpy via `xp`).
# ---------------------------------------------------------------------------------------------


def _is_pi(D0, xp):
    """Whether `D0` is pi mod 2pi up to `_PI_ULPS` ulps (float64 cannot represent pi)."""
    D0r = xp.remainder(D0, 2 * math.pi)  # in [0, 2pi)
    tol = _PI_ULPS * np.finfo(np.float64).eps * xp.maximum(1.0, xp.abs(D0))
    return xp.abs(D0r - math.pi) <= tol


def _angles(D0, xp):
    """`(|sin D0|, cos D0, sign of sin D0)` with D0 = pi (mod 2pi) mapped to sin = 0 exactly."""
    at_pi = _is_pi(D0, xp)
    sin_D0 = xp.where(at_pi, 0.0, xp.sin(D0))
    cos_D0 = xp.where(at_pi, -1.0, xp.cos(D0))
    sigma = xp.where(sin_D0 < 0, -1.0, 1.0)
    return xp.abs(sin_D0), cos_D0, sigma


def _alignment_span(D0, delta, xp):
    """`max(ell0 - ell_delta, 0)`: the length of the alignment solve in `ell = log tan(|D|/2)`
    (0 if already aligned, inf at D0 = pi): the solve's interval and a proxy for its cost."""
    sin_D0, cos_D0, _ = _angles(D0, xp)
    safe = xp.where(sin_D0 > 0, sin_D0, 1.0)
    ell0 = xp.where(sin_D0 > 0, xp.arcsinh(-cos_D0 / safe), xp.where(cos_D0 > 0, -xp.inf, xp.inf))
    return xp.maximum(ell0 + xp.arccosh(1 / delta), 0.0)


def _cubic_root(I1, m, xp):
    """Largest real root `b` of `2 b^3 + I1 b = m` (`m >= 0`), with `2 b^2 + I1 >= 0`.

    Newton from an upper bound within a factor ~1.4 of the root: `min(cbrt(m/2), m/I1)` for
    `I1 > 0`, `max(sqrt(|I1|), cbrt(m))` otherwise. The cubic is convex and increasing above
    the root, so the iterates decrease monotonically; 7 steps reach full float64 precision
    over the whole range (checked against extended precision). Cheaper than Cardano's
    trigonometric/hyperbolic form: one `cbrt` and no other transcendental function.
    """
    pos = I1 > 0
    m_over_I1 = xp.where(pos, m / xp.where(pos, I1, 1.0), xp.inf)
    b = xp.where(
        pos, xp.minimum(xp.cbrt(m / 2), m_over_I1), xp.maximum(xp.sqrt(xp.abs(I1)), xp.cbrt(m))
    )
    for _ in range(7):
        f = 2 * b**3 + I1 * b - m
        df = 6 * b**2 + I1
        ok = df > 0
        b = b - xp.where(ok, f / xp.where(ok, df, 1.0), 0.0)
    return b


class _Trajectory(eqx.Module):
    """The constants of one reduced trajectory, from its initial state (any backend)."""

    I1: object
    c: object  # |I2| = alpha^2 beta |sin D|, the level at the turning point
    b_t: object  # beta at the turning point (cos D = 0); sqrt(e1)
    g: object  # alpha^2 / 2 at the turning point
    m0: object  # initial level alpha0^2 beta0
    m0_minus_c: object  # m0 - c, without cancellation
    cos_D0: object
    at_pi: object


def _trajectory(alpha0, beta0, D0, xp, angles=None) -> _Trajectory:
    sin_D0, cos_D0, _ = _angles(D0, xp) if angles is None else angles
    I1 = alpha0**2 - 2 * beta0**2
    m0 = alpha0**2 * beta0
    c = m0 * sin_D0
    # 1 - |sin D0| = cos^2 D0 / (1 + |sin D0|): exact near the turning point.
    m0_minus_c = m0 * cos_D0**2 / (1 + sin_D0)
    b_t = _cubic_root(I1, c, xp)
    b_safe = xp.where(b_t > 0, b_t, 1.0)
    # g = c / (2 b_t) keeps relative precision where g = e1 + I1/2 would cancel (D0 -> pi).
    g = xp.where(b_t > 0, c / (2 * b_safe), I1 / 2)
    # `_angles` maps D0 = pi (mod 2pi, to a few ulps) to sin = 0, cos = -1 exactly.
    at_pi = (sin_D0 == 0) & (cos_D0 < 0)
    return _Trajectory(I1, c, b_t, g, m0, m0_minus_c, cos_D0, at_pi)


def _offset(tr: _Trajectory, b, m_minus_c):
    """`u = beta^2 - beta_t^2` at the point of level `m` (beta = `b`), without cancellation."""
    db = m_minus_c / (2 * b**2 + 2 * b * tr.b_t + 2 * tr.g)
    return db * (b + tr.b_t)


def _rf_args(tr: _Trajectory, u):
    """`(x, y + z, y z)` of `R_F(x, y, z)` with `x = u` and `y, z` the other root offsets."""
    e1, g = tr.b_t**2, tr.g
    return u, 2 * u + 2 * g + e1, u**2 + u * (e1 + 2 * g) + g * (g + 2 * e1)


def _event_level(tr: _Trajectory, event: str, delta, xp):
    """`(m - c)` for an event: 'turning' (m = c), 'alignment' (m = c/delta), 'blowup' (inf)."""
    if event == "turning":
        return xp.zeros_like(tr.c)
    if event == "alignment":
        return tr.c * (1 / delta - 1)
    raise ValueError(event)


def _event_time(alpha0, beta0, D0, r, event, delta, xp, rf, angles=None):
    """Time from the initial state to `event` along the cubic; `rf(x, S, Q)` is R_F.

    From a point at offset `u` to blow-up: `F(u) = R_F(u, y, z) / (2r)` (SPEC 10). From the
    turning point to offset `u`: Carlson's two-limit formula with one limit at the root `e1`,
    `T(u) = sqrt(u) R_F(Q0, y', z') / (2r)`, `y' + z' = 2 Q0 + u (e1 + 2g)`,
    `y' z' = Q0 Q(u)`, `Q0 = Q(0) = g (g + 2 e1)`: exact in relative terms even for tiny `u`
    (states next to the turning point), where `F(0) - F(u)` would cancel.
    """
    tr = _trajectory(alpha0, beta0, D0, xp, angles)
    before_turn = tr.cos_D0 < 0
    e1, g = tr.b_t**2, tr.g
    Q0 = g * (g + 2 * e1)

    def T(u):
        Qu = u**2 + u * (e1 + 2 * g) + Q0
        return xp.sqrt(u) * rf(Q0, 2 * Q0 + u * (e1 + 2 * g), Q0 * Qu) / (2 * r)

    u0 = _offset(tr, beta0, tr.m0_minus_c)
    if event == "blowup":
        F_t = rf(*_rf_args(tr, xp.zeros_like(u0))) / (2 * r)
        F_0 = rf(*_rf_args(tr, u0)) / (2 * r)
        t = xp.where(before_turn, F_t + T(u0), F_0)
    elif event == "turning":
        t = xp.where(before_turn, T(u0), 0.0)
    else:
        m_minus_c = _event_level(tr, event, delta, xp)
        b_e = _cubic_root(tr.I1, tr.c + m_minus_c, xp)
        T_e, T_0 = T(_offset(tr, b_e, m_minus_c)), T(u0)
        already = (~before_turn) & (tr.m0 >= tr.c / delta)
        t = xp.where(before_turn, T_0 + T_e, xp.where(already, 0.0, T_e - T_0))
    # D0 = pi never leaves pi (and on the I1 > 0 side the closed form would describe the
    # beta = 0 crossing, which the reduced ODE cannot pass): inf, never NaN.
    return xp.where(tr.at_pi, np.inf, t)


def _rf_scipy(x, S, Q):
    """`R_F(x, y, z)` by `scipy.special.elliprf`, the roots `y, z` rebuilt from `y+z`, `yz`."""
    half = S / 2
    disc = half**2 - Q
    real = disc >= 0
    sq = np.sqrt(np.abs(disc))
    y_real = half + sq
    z_real = Q / np.where(y_real > 0, y_real, 1.0)
    y = np.where(real, y_real + 0j, half + 1j * sq)
    z = np.where(real, z_real + 0j, half - 1j * sq)
    with np.errstate(all="ignore"):
        return np.real(scipy.special.elliprf(x + 0j, y, z))


_RF_ITERATIONS = 8


def _rf_jax(x, S, Q):
    """Carlson's `R_F(x, y, z)` by the duplication algorithm, in real arithmetic.

    `y, z` enter only through `S = y + z` and `Q = y z` (they may be complex conjugates):
    `sqrt(y) sqrt(z) = sqrt(Q)` and `sqrt(y) + sqrt(z) = sqrt(S + 2 sqrt(Q))`. A fixed number
    of duplications (each shrinks the spread of the arguments by 4, after the small ones grow
    like `eps^(2^-n)`) then the degree-7 series of Carlson (1995); checked against
    `scipy.special.elliprf` in the tests.
    """
    # Two zero arguments: the logarithmic singularity (a double root of P), R_F = inf.
    singular = (x == 0) & (Q == 0)
    for _ in range(_RF_ITERATIONS):
        sqx, sqQ = jnp.sqrt(x), jnp.sqrt(Q)
        lam = sqx * jnp.sqrt(S + 2 * sqQ) + sqQ
        x, S, Q = (x + lam) / 4, (S + 2 * lam) / 4, (Q + lam * S + lam**2) / 16
    A = (x + S) / 3
    X = 1 - x / A
    YZ = 1 - S / A + Q / A**2
    E2 = YZ - X**2
    E3 = X * YZ
    series = (
        1
        - E2 / 10
        + E3 / 14
        + E2**2 / 24
        - 3 * E2 * E3 / 44
        - 5 * E2**3 / 208
        + 3 * E3**2 / 104
        + E2**2 * E3 / 16
    )
    return jnp.where(singular, jnp.inf, series / jnp.sqrt(A))


def _check_state(alpha0, beta0, D0, p, reduction):
    p = check_modulus(p)
    check_reduction(reduction)
    check_positive(alpha0, "alpha0")
    check_positive(beta0, "beta0")
    try:
        D0_arr = np.asarray(D0, dtype=float)
    except Exception:
        D0_arr = None
    if D0_arr is not None and not np.all(np.isfinite(D0_arr)):
        raise ValueError(f"`D0` must be finite (any real, taken mod 2pi); got D0={D0!r}.")
    return p


def _check_delta(delta):
    check_in_open_interval(delta, "delta", 0.0, 1.0)


def _exact(alpha0, beta0, D0, p, reduction, event, delta):
    r = reduced_rate(p, reduction)
    arrays = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (alpha0, beta0, D0, delta))
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return _event_time(*arrays[:3], r, event, arrays[3], np, _rf_scipy)


def alignment_time_exact(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    delta: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
) -> Float[np.ndarray, "*batch"]:
    """Alignment time `t_delta` from the closed form (SPEC 8, 10): the reference value.

    `t_delta` is the first time `B <= arcsin(delta)` on the aligned side (after the turning
    point `cos D = 0` when `B0 > pi/2`). Computed as differences of
    `R_F(v - e1, v - e2, v - e3) / (2r)` (`scipy.special.elliprf`), the time from `v = beta^2`
    to blow-up along `(v')^2 = 4 r^2 P(v)`; float64, about 1e-13 relative. NumPy, not jittable
    (see `alignment_time_closed_form` for the JAX version).

    **Arguments:**

    - `alpha0`, `beta0`: initial magnitudes (> 0); `D0`: initial phase difference (any real).
    - `p`: the modulus (odd, >= 3); `delta`: tolerance in (0, 1).
    - `reduction`: `"sum"` (rate `p`) or `"mean"` (rate `1/p`).

    **Returns:**

    A float64 NumPy array of the broadcast shape: `t_delta`; `0` when already aligned
    (`cos D0 >= 0` and `|sin D0| <= delta`); `inf` when `D0 = pi` (mod 2pi), which never aligns.
    """
    p = _check_state(alpha0, beta0, D0, p, reduction)
    _check_delta(delta)
    return _exact(alpha0, beta0, D0, p, reduction, "alignment", delta)


def turning_time(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    *,
    reduction: Reduction = "sum",
) -> Float[np.ndarray, "*batch"]:
    """Exact time of the turning point `cos D = 0` (SPEC 8), where the magnitudes stop shrinking.

    **Arguments:**

    - `alpha0`, `beta0`: initial magnitudes (> 0); `D0`: initial phase difference (any real).
    - `p`: the modulus (odd, >= 3); `reduction`: `"sum"` or `"mean"`.

    **Returns:**

    Float64 NumPy array: the time until `cos D = 0` when `B0 > pi/2`; `0` when `B0 <= pi/2`
    (the magnitudes already grow); `inf` when `D0 = pi` (mod 2pi).
    """
    p = _check_state(alpha0, beta0, D0, p, reduction)
    return _exact(alpha0, beta0, D0, p, reduction, "turning", 0.5)


def blowup_time(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    *,
    reduction: Reduction = "sum",
) -> Float[np.ndarray, "*batch"]:
    """Exact finite-time blow-up `t_star` of the reduced ODE (SPEC 8, 10): `beta -> inf`.

    **Arguments:**

    - `alpha0`, `beta0`: initial magnitudes (> 0); `D0`: initial phase difference (any real).
    - `p`: the modulus (odd, >= 3); `reduction`: `"sum"` or `"mean"`.

    **Returns:**

    Float64 NumPy array `t_star`; `inf` when `D0 = pi` (mod 2pi).
    """
    p = _check_state(alpha0, beta0, D0, p, reduction)
    return _exact(alpha0, beta0, D0, p, reduction, "blowup", 0.5)


# `sin D0` and `cos D0` are computed by a jit of their own: inside one jit XLA duplicates
# them into every consumer fusion (24 evaluations of `sin` per element, half the run time).
_angles_jit = jax.jit(lambda D0: _angles(D0, jnp))


@functools.partial(jax.jit, static_argnames=("event",))
def _closed_form_jit(alpha0, beta0, D0, r, delta, angles, event):
    return _event_time(alpha0, beta0, D0, r, event, delta, jnp, _rf_jax, angles)


def _closed_form(alpha0, beta0, D0, p, reduction, event, delta):
    r = jnp.asarray(reduced_rate(p, reduction), dtype=float)  # traced: one compile for all p
    arrays = jnp.broadcast_arrays(
        *(jnp.asarray(x, dtype=float) for x in (alpha0, beta0, D0, delta))
    )
    return _closed_form_jit(*arrays[:3], r, arrays[3], _angles_jit(arrays[2]), event)


def alignment_time_closed_form(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    delta: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
) -> Float[Array, "*batch"]:
    """`t_delta` from the closed form (SPEC 10) in JAX: jittable, vectorised, for big sweeps.

    Same formula as `alignment_time_exact`, with Carlson's `R_F` computed by the duplication
    algorithm in real arithmetic (no root finding, no loops with data-dependent length).

    **Arguments:**

    - `alpha0`, `beta0`: initial magnitudes (> 0); `D0`: initial phase difference (any real).
    - `p`: the modulus (odd, >= 3, static); `delta`: tolerance in (0, 1).
    - `reduction`: `"sum"` or `"mean"` (static).

    **Returns:**

    `t_delta` of the broadcast shape; `0` if already aligned; `inf` when `D0 = pi` (mod 2pi).
    """
    p = _check_state(alpha0, beta0, D0, p, reduction)
    _check_delta(delta)
    return _closed_form(alpha0, beta0, D0, p, reduction, "alignment", delta)


def blowup_time_closed_form(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    *,
    reduction: Reduction = "sum",
) -> Float[Array, "*batch"]:
    """Blow-up time `t_star` from the closed form in JAX (see `blowup_time`).

    **Arguments:**

    - `alpha0`, `beta0`, `D0`, `p`, `reduction`: as `alignment_time_closed_form`.

    **Returns:**

    `t_star` of the broadcast shape; `inf` when `D0 = pi` (mod 2pi).
    """
    p = _check_state(alpha0, beta0, D0, p, reduction)
    return _closed_form(alpha0, beta0, D0, p, reduction, "blowup", 0.5)


def turning_time_closed_form(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    *,
    reduction: Reduction = "sum",
) -> Float[Array, "*batch"]:
    """Turning time (`cos D = 0`) from the closed form in JAX (see `turning_time`).

    **Arguments:**

    - `alpha0`, `beta0`, `D0`, `p`, `reduction`: as `alignment_time_closed_form`.

    **Returns:**

    The turning time of the broadcast shape (`0` when `B0 <= pi/2`, `inf` when `D0 = pi`).
    """
    p = _check_state(alpha0, beta0, D0, p, reduction)
    return _closed_form(alpha0, beta0, D0, p, reduction, "turning", 0.5)


# ---------------------------------------------------------------------------------------------
# Diffrax solves in the scaled variables (log a, log b, ell = log tan(|D|/2)).
# ---------------------------------------------------------------------------------------------


_EXP_MAX = 600.0


def _scaled_vector_field(t, y, args):
    """The reduced ODE in `tau = r s t` for `(log a, log b, ell[, phi, psi])` (module docs)."""
    del t
    sigma = args[0]
    log_a, log_b, ell = y[0], y[1], y[2]
    # Clipped exponents keep trial stages finite: an overflow would give inf - inf = NaN in
    # the error estimate, which the PID controller cannot recover from (dt becomes NaN).
    b = jnp.exp(jnp.clip(log_b, -_EXP_MAX, _EXP_MAX))
    a2_b = jnp.exp(jnp.clip(2 * log_a - log_b, -_EXP_MAX, _EXP_MAX))
    tanh = jnp.tanh(ell)  # = -cos D
    d = [-2 * b * tanh, -a2_b * tanh, -(4 * b + a2_b)]
    if y.shape[0] == 5:
        sin_D = sigma / jnp.cosh(ell)
        d += [-2 * b * sin_D, a2_b * sin_D]
    return jnp.stack(d)


def _scaled_initial_state(alpha0, beta0, D0):
    """Scale `s`, half-plane sign and the scaled initial state `(log a0, 0, ell0)`."""
    sin_D0, cos_D0, sigma = _angles(D0, jnp)
    # ell = asinh(-cot D) from sin and cos of D0: relative precision near 0 and near pi.
    ell0 = jnp.arcsinh(-cos_D0 / sin_D0)
    log_a0 = jnp.log(alpha0) - jnp.log(beta0)
    return beta0, sigma, jnp.stack([log_a0, jnp.zeros_like(log_a0), ell0])


def _D_from_ell(ell, sigma):
    """`D` in [0, 2pi) from `ell = log tan(|D|/2)` and the half-plane sign."""
    D_abs = jnp.arctan2(1 / jnp.cosh(ell), -jnp.tanh(ell))
    D = jnp.where(sigma > 0, D_abs, 2 * jnp.pi - D_abs)
    return jnp.minimum(D, np.nextafter(2 * np.pi, 0.0))


def _guard_cond(y, log_beta_max):
    """Positive while `b` in [1/beta_max^2, beta_max]; falls through 0 when it leaves.

    Both parts have slopes of order one in scaled time (near blow-up `a^2/b^2 -> 2`), as the
    bisection's termination test needs `|cond| < root_tol` as well as a small interval.
    """
    b, a2 = jnp.exp(y[1]), jnp.exp(2 * y[0])
    upper = 1 / b - jnp.exp(-log_beta_max)
    lower = (b - jnp.exp(-2 * log_beta_max)) / (1 + a2)
    return jnp.minimum(upper, lower)


def _guard_event(t, y, args, **kwargs):
    del t, kwargs
    return _guard_cond(y, args[1])


def _result_status(result, default):
    ok = (result == dfx.RESULTS.successful) | (result == dfx.RESULTS.event_occurred)
    return jnp.where(ok, default, SOLVER_FAILED)


def _solve_scaled(y0, sigma, t1, saveat, cond, cond_args, config):
    solver, rtol, atol, max_steps, root_tol, throw = config
    return dfx.diffeqsolve(
        dfx.ODETerm(_scaled_vector_field),
        solver,
        t0=0.0,
        t1=t1,
        dt0=None,
        y0=y0,
        args=(sigma,) + cond_args,
        saveat=saveat,
        stepsize_controller=dfx.PIDController(rtol=rtol, atol=atol),
        event=dfx.Event(cond, optx.Bisection(rtol=root_tol, atol=root_tol, flip=True), False),
        max_steps=max_steps,
        throw=throw,
    )


class ReducedSolution(eqx.Module):
    """Trajectories of the reduced ODE saved at times `ts` (from `solve_reduced`).

    Entries after the magnitude guard fired (blow-up) are `inf`; `t_stop` is the time the solve
    stopped (the guard time, else `ts[-1]`); `status` is `ALIGNED` (ran to `ts[-1]`),
    `MAGNITUDE_GUARD` or `SOLVER_FAILED`.
    """

    alpha: Float[Array, "*batch times"]
    beta: Float[Array, "*batch times"]
    D: Float[Array, "*batch times"]
    phi: Float[Array, "*batch times"] | None
    psi: Float[Array, "*batch times"] | None
    t_stop: Float[Array, "*batch"]
    status: Int[Array, "*batch"]
    num_steps: Int[Array, "*batch"]


def _chunked(fn, args, chunk_size):
    """`fn(*args)` for a batched `fn`, over the leading axis in sequential chunks of `chunk_size`.

    An adaptive solve of a batch (vmapped, or one system with shared steps) steps until its
    slowest element is done, and its working set grows with the batch: chunks keep it in cache
    and confine slow elements (D0 near pi) to their own chunk. The last chunk is padded with
    copies of element 0.
    """
    n = args[0].shape[0]
    if chunk_size is None or n <= chunk_size:
        return fn(*args)
    n_chunks = -(-n // chunk_size)
    pad = n_chunks * chunk_size - n

    def prep(a):
        a = jnp.concatenate([a, jnp.broadcast_to(a[:1], (pad,) + a.shape[1:])])
        return a.reshape((n_chunks, chunk_size) + a.shape[1:])

    out = jax.lax.map(lambda chunk: fn(*chunk), [prep(a) for a in args])
    return jax.tree.map(lambda o: o.reshape((n_chunks * chunk_size,) + o.shape[2:])[:n], out)


def _SAVE_TS_AND_T1(ts):
    return dfx.SaveAt(subs=[dfx.SubSaveAt(ts=ts), dfx.SubSaveAt(t1=True)])


@eqx.filter_jit
def _solve_reduced_flat(flat, r, ts, log_beta_max, with_phases, config, chunk_size):
    def single(alpha0, beta0, D0, r, *phase0):
        s, sigma, y0 = _scaled_initial_state(alpha0, beta0, D0)
        if with_phases:
            y0 = jnp.concatenate([y0, jnp.stack(phase0)])
        taus = r * s * ts
        sol = _solve_scaled(
            y0, sigma, taus[-1], _SAVE_TS_AND_T1(taus), _guard_event, (log_beta_max,), config
        )
        # Two sub-saves: with an event, diffrax writes the final state after the last kept ts.
        ys, tau_stop = sol.ys[0], sol.ts[1][-1]
        stopped = jnp.isinf(ys[:, 1])
        alpha = s * jnp.exp(ys[:, 0])
        beta = s * jnp.exp(ys[:, 1])
        D = jnp.where(stopped, jnp.inf, _D_from_ell(ys[:, 2], sigma))
        out = [alpha, beta, D]
        if with_phases:
            out += [jnp.where(stopped, jnp.inf, wrap_angle(ys[:, k])) for k in (3, 4)]
        event = sol.result == dfx.RESULTS.event_occurred
        status = _result_status(sol.result, jnp.where(event, MAGNITUDE_GUARD, ALIGNED))
        return out, tau_stop / (r * s), status, sol.stats["num_steps"]

    return _chunked(jax.vmap(single), [*flat[:3], r, *flat[3:]], chunk_size)


def _check_ts(ts):
    ts = jnp.asarray(ts, dtype=float)
    if ts.ndim != 1 or ts.shape[0] < 1:
        raise ValueError(f"`ts` must be a 1-D array of save times; got shape {ts.shape}.")
    try:
        ts_np = np.asarray(ts)
    except Exception:
        return ts
    if not (np.all(np.isfinite(ts_np)) and np.all(ts_np >= 0) and np.all(np.diff(ts_np) >= 0)):
        raise ValueError(f"`ts` must be finite, >= 0 and non-decreasing; got ts={ts_np!r}.")
    return ts


def _check_chunk(chunk_size):
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise ValueError(f"`chunk_size` must be None or an int >= 1; got {chunk_size!r}.")


# Elements per shared-step alignment solve by platform (issue 4 benchmarks, float64): on the
# 2-core CPU 1024-4096 run 2.0-2.4e5/s and 65536 1.2e5/s (cache); on an H200 262144 runs
# 2.6e7/s at 1e6 states and 65536 1.2e7/s (the device needs large kernels).
_ALIGNMENT_CHUNK = {"cpu": 4096}
_ALIGNMENT_CHUNK_ACCELERATOR = 1 << 18


def alignment_chunk_size(platform: str | None = None) -> int:
    """The default elements per `solve_alignment` solve on a platform.

    **Arguments:**

    - `platform`: a JAX platform name (`"cpu"`, `"gpu"`, `"tpu"`); default: JAX's default
      backend.

    **Returns:**

    4096 on CPU (cache-sized), 262144 on accelerators.
    """
    platform = jax.default_backend() if platform is None else platform
    return _ALIGNMENT_CHUNK.get(platform, _ALIGNMENT_CHUNK_ACCELERATOR)


def _check_options(rtol, atol, max_steps, beta_max=None):
    if beta_max is not None and not beta_max > 1:
        raise ValueError(f"`beta_max` must be > 1; got beta_max={beta_max!r}.")
    if not (rtol > 0 and atol > 0):
        raise ValueError(f"`rtol`, `atol` must be > 0; got rtol={rtol!r}, atol={atol!r}.")
    if not (isinstance(max_steps, int) and max_steps >= 1):
        raise ValueError(f"`max_steps` must be an int >= 1; got max_steps={max_steps!r}.")


def _config(solver, rtol, atol, max_steps, root_tol, throw):
    # Tolerances travel as arrays so that changing them does not recompile.
    tols = tuple(jnp.asarray(x, dtype=float) for x in (rtol, atol, root_tol))
    return (solver, *tols[:2], max_steps, tols[2], throw)


def _flat(*xs):
    arrays = jnp.broadcast_arrays(*(jnp.asarray(x, dtype=float) for x in xs))
    shape = arrays[0].shape
    return shape, [a.reshape(-1) for a in arrays]


# Defaults that suit sweeps: t_delta to about 1e-6 relative (tests: < 1e-5 over a grid).
RTOL, ATOL = 1e-6, 1e-8


def solve_reduced(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    ts: Float[ArrayLike, " times"],
    *,
    reduction: Reduction = "sum",
    phases: tuple[Float[ArrayLike, "*batch"], Float[ArrayLike, "*batch"]] | None = None,
    solver: dfx.AbstractAdaptiveSolver | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
    max_steps: int = 4096,
    beta_max: float = 1e6,
    throw: bool = True,
    full_output: bool = False,
    chunk_size: int | None = 1024,
) -> tuple[Float[Array, "*batch times"], ...] | ReducedSolution:
    """Integrate the per-frequency ODE (SPEC 8, eq. 6.1) from one or many initial states.

    Internally the scaled variables of the module docs, `(log a, log b, log tan(|D|/2))` in
    time `tau = r beta0 t`, are integrated (Tsit5 + PID by default), so `rtol`/`atol` are
    relative tolerances on `alpha`, `beta` and `tan(D/2)`. The solve stops on a magnitude
    guard (the finite-time blow-up): when `beta` leaves `[beta0 / beta_max^2, beta0 beta_max]`;
    later saved values are `inf`.

    **Arguments:**

    - `alpha0`, `beta0`: input/output magnitudes at t=0 (positive).
    - `D0`: phase difference `2 phi - psi` at t=0, any real (taken mod 2pi).
    - `p`: the modulus (odd, >= 3).
    - `ts`: 1-D non-decreasing save times, `>= 0`.
    - `reduction`: `"sum"` (rate `p`) or `"mean"` (rate `1/p`).
    - `phases`: optional `(phi0, psi0)`; then the phases are integrated too.
    - `solver`: a Diffrax adaptive solver (default `Tsit5()`).
    - `rtol`, `atol`: step-size controller tolerances (defaults suit sweeps; the invariants
      drift by about `rtol`, so use `rtol=1e-10` for ~1e-9 conservation).
    - `max_steps`: step budget per trajectory.
    - `beta_max`: the magnitude guard factor (> 1).
    - `throw`: raise on solver failure (else report it in `status`, with `full_output=True`).
    - `full_output`: return a `ReducedSolution` (with `status`, `t_stop`, `num_steps`).
    - `chunk_size`: batches larger than this are solved in sequential vmapped chunks (faster:
      cache-sized working sets); `None` for one vmap.

    **Returns:**

    `(alpha, beta, D)`, or `(alpha, beta, D, phi, psi)` when `phases` is given, each of shape
    `broadcast(alpha0, beta0, D0).shape + (len(ts),)`, `D` in [0, 2pi), `phi, psi` in
    (-pi, pi]; or a `ReducedSolution` when `full_output=True`.
    """
    p = _check_state(alpha0, beta0, D0, p, reduction)
    ts = _check_ts(ts)
    _check_options(rtol, atol, max_steps, beta_max)
    _check_chunk(chunk_size)
    r = reduced_rate(p, reduction)
    solver = dfx.Tsit5() if solver is None else solver
    with_phases = phases is not None
    shape, flat = _flat(alpha0, beta0, D0, *(() if phases is None else phases))
    config = _config(solver, rtol, atol, max_steps, 1e-13, throw)
    out, t_stop, status, num_steps = _solve_reduced_flat(
        flat, jnp.full(flat[0].shape, r), ts, math.log(beta_max), with_phases, config, chunk_size
    )
    out = [o.reshape(shape + ts.shape) for o in out]
    if not full_output:
        return tuple(out)
    phi, psi = (out[3], out[4]) if with_phases else (None, None)
    return ReducedSolution(
        out[0], out[1], out[2], phi, psi, *(x.reshape(shape) for x in (t_stop, status, num_steps))
    )


class AlignmentResult(eqx.Module):
    """The reduced trajectory stopped at alignment (from `solve_alignment`).

    `t` is `t_delta` (`0` if already aligned, `inf` if `D0 = pi` or the solver failed);
    `alpha`, `beta`, `D` (and `phi`, `psi` when phases were given) are the state at `t` (the
    initial state when `t` is 0 or inf); `status` is one of `ALIGNED`, `NEVER_ALIGNS`,
    `SOLVER_FAILED`; `num_steps` counts the accepted and rejected steps (shared by the
    elements of a chunk when the steps are shared).
    """

    t: Float[Array, "*batch"]
    alpha: Float[Array, "*batch"]
    beta: Float[Array, "*batch"]
    D: Float[Array, "*batch"]
    phi: Float[Array, "*batch"] | None
    psi: Float[Array, "*batch"] | None
    status: Int[Array, "*batch"]
    num_steps: Int[Array, "*batch"]


def _alignment_vector_field(u, y, args):
    """The reduced ODE with `ell = ell0 + u L` as the independent variable, `u` in [0, 1].

    `y = (log a, log b, tau[, phi, psi])`. With `ell' = -b (4 + q)`, `q = a^2/b^2`, in scaled
    time: `d log a/d ell = 2 tanh(ell)/(4 + q)`, `d log b/d ell = q tanh(ell)/(4 + q)`,
    `d tau/d ell = -1/(b (4 + q))`, `d phi/d ell = 2 sin D/(4 + q)`,
    `d psi/d ell = -q sin D/(4 + q)` (`sin D = sigma sech(ell)`). The fractions in `q` are
    logistic functions of `log q`: finite for any state.
    """
    ell0, L, sigma = args
    ell = ell0 + u * L
    tanh = jnp.tanh(ell)
    log_q4 = 2 * (y[0] - y[1]) - math.log(4.0)
    w = jax.nn.sigmoid(log_q4)  # q / (4 + q)
    v = jax.nn.sigmoid(-log_q4) / 4  # 1 / (4 + q)
    d = [2 * tanh * v, tanh * w, -jnp.exp(-y[1]) * v]
    if y.shape[0] == 5:
        sin_D = sigma / jnp.cosh(ell)
        d += [2 * sin_D * v, -sin_D * w]
    return L[None] * jnp.stack(d)


def _alignment_batch(alpha0, beta0, D0, delta, r, phase0, config):
    """Solve a batch (1-D arrays) to alignment as ONE system: shared steps in `u`, max norm."""
    solver, rtol, atol, max_steps, throw = config
    s, sigma, y0 = _scaled_initial_state(alpha0, beta0, D0)  # y0: (3, m), y0[2] = ell0
    at_pi = _is_pi(D0, jnp)
    ell_delta = -jnp.arccosh(1 / delta)
    # L = ell_delta - ell0 < 0 from the span (one derivation for the solve and the chunk
    # order); 0 (stay put: the right-hand side vanishes) when already aligned or at pi, where
    # ell0 is infinite and ell_delta stands in for it.
    L = jnp.where(at_pi, 0.0, -_alignment_span(D0, delta, jnp))
    ell0 = ell_delta - L
    skip = L == 0
    y0 = jnp.stack([y0[0], y0[1], jnp.zeros_like(ell0), *phase0])  # tau = 0 at u = 0
    sol = dfx.diffeqsolve(
        dfx.ODETerm(_alignment_vector_field),
        solver,
        t0=0.0,
        t1=1.0,
        dt0=None,
        y0=y0,
        args=(ell0, L, sigma),
        saveat=dfx.SaveAt(t1=True),
        stepsize_controller=dfx.PIDController(rtol=rtol, atol=atol, norm=optx.max_norm),
        max_steps=max_steps,
        throw=throw,
    )
    y1 = sol.ys[-1]
    status = _result_status(sol.result, jnp.where(at_pi, NEVER_ALIGNS, ALIGNED))
    failed = status == SOLVER_FAILED
    y1 = jnp.where(failed[None], y0, y1)
    t = jnp.where(at_pi | failed, jnp.inf, y1[2] / (r * s))
    D_end = jnp.where(skip | failed, jnp.remainder(D0, 2 * jnp.pi), _D_from_ell(ell_delta, sigma))
    out = [t, s * jnp.exp(y1[0]), s * jnp.exp(y1[1]), D_end]
    out += [wrap_angle(y1[k]) for k in (3, 4)] if phase0 else [None, None]
    return (*out, status, jnp.broadcast_to(sol.stats["num_steps"], t.shape))


@eqx.filter_jit
def _solve_alignment_flat(flat, r, config, chunk_size, shared_steps):
    solver, rtol, atol, max_steps, throw = config

    def batch(throw, alpha0, beta0, D0, delta, r, *phase0):
        config = (solver, rtol, atol, max_steps, throw)
        return _alignment_batch(alpha0, beta0, D0, delta, r, phase0, config)

    def alone(*args):
        # Each element its own step sequence: a vmap over one-element systems.
        def one(*x):
            return jax.tree.map(lambda o: o[0], batch(throw, *(a[None] for a in x)))

        return jax.vmap(one)(*args)

    def shared(*args):
        # One system per chunk; should it fail (max_steps, say), its elements are solved
        # again alone, so that only the elements that fail by themselves report it.
        out = batch(False, *args)
        failed = jnp.any(out[6] == SOLVER_FAILED)
        return jax.lax.cond(failed, lambda: alone(*args), lambda: out)

    args = [*flat[:4], r, *flat[4:]]
    if not shared_steps:
        return _chunked(alone, args, chunk_size)
    if chunk_size is None or args[0].shape[0] <= chunk_size:
        return shared(*args)
    # Chunks of similar length in ell take similar steps: solve in order of the span (2x fewer
    # steps than random chunks on uniform D0), then put the results back in input order.
    order = jnp.argsort(_alignment_span(flat[2], flat[3], jnp))
    out = _chunked(shared, [a[order] for a in args], chunk_size)
    inverse = jnp.argsort(order)
    return jax.tree.map(lambda o: o[inverse], out)


def solve_alignment(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    delta: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
    phases: tuple[Float[ArrayLike, "*batch"], Float[ArrayLike, "*batch"]] | None = None,
    solver: dfx.AbstractAdaptiveSolver | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
    max_steps: int = 4096,
    throw: bool = True,
    chunk_size: int | Literal["auto"] | None = "auto",
    shared_steps: bool = True,
) -> AlignmentResult:
    """Solve the reduced ODE until alignment, `B <= arcsin(delta)` (SPEC 8), in one Diffrax
    solve per batch that ends exactly at the event.

    The alignment event is made the end point of the integration (Henon's trick): `ell =
    log tan(|D|/2)` falls strictly monotonically (`ell' = -(4 beta + alpha^2/beta) r`), so it
    serves as the independent variable from `ell0` down to `ell_delta = -arccosh(1/delta)`,
    and time `tau` becomes a state. Rescaled to `u` in [0, 1], every element of a batch ends
    at `u = 1`, so a batch is one ODE system (a max-norm PID controller keeps every element
    within `rtol`/`atol`): no root find, no event check. Along the way `|d log beta/d ell|
    <= 1`, so nothing can blow up before alignment. Differentiable (through the solve).

    **Arguments:**

    - `alpha0`, `beta0`: initial magnitudes (> 0); `D0`: initial phase difference (any real).
    - `p`: the modulus (odd, >= 3); `delta`: tolerance in (0, 1), broadcast with the states.
    - `reduction`: `"sum"` (rate `p`) or `"mean"` (rate `1/p`).
    - `phases`: optional `(phi0, psi0)`; then the phases at alignment are returned too.
    - `solver`, `rtol`, `atol`, `max_steps`: as in `solve_reduced`, tolerances on `(log
      alpha, log beta, tau[, phi, psi])` (defaults: t_delta to about 1e-7 relative;
      `rtol=1e-10, atol=1e-12` gives about 1e-11).
    - `throw`: raise on solver failure; with `False` failures are reported in `status`.
    - `chunk_size`: elements per solve (sequential chunks, the last padded); `None` for one;
      `"auto"`: `alignment_chunk_size()` (4096 on CPU, 262144 on accelerators).
    - `shared_steps`: `True` (default, fastest): the elements of a chunk share one step
      sequence, so results depend on the chunk's other elements at the level of `rtol` (a
      chunk whose shared solve fails is solved again element by element, so a failure stays
      with the elements that fail alone); `False`: every element steps alone (a vmap; bitwise
      independent of the batch, ~5x slower on CPU). Pass batches rather than `jax.vmap`-ing
      this function: under vmap the fallback's `lax.cond` becomes a select that runs both
      branches.

    **Returns:**

    An `AlignmentResult` of the broadcast shape.
    """
    p = _check_state(alpha0, beta0, D0, p, reduction)
    _check_delta(delta)
    _check_options(rtol, atol, max_steps)
    chunk_size = alignment_chunk_size() if chunk_size == "auto" else chunk_size
    _check_chunk(chunk_size)
    r = reduced_rate(p, reduction)
    solver = dfx.Tsit5() if solver is None else solver
    shape, flat = _flat(alpha0, beta0, D0, delta, *(() if phases is None else phases))
    tols = tuple(jnp.asarray(x, dtype=float) for x in (rtol, atol))
    config = (solver, *tols, max_steps, throw)
    out = _solve_alignment_flat(
        flat, jnp.full(flat[0].shape, r), config, chunk_size, bool(shared_steps)
    )
    return AlignmentResult(*(None if o is None else o.reshape(shape) for o in out))


def alignment_time(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    delta: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
    **kwargs,
) -> Float[Array, "*batch"]:
    """`t_delta` of SPEC 8 from an event-terminated Diffrax solve: `solve_alignment(...).t`.

    **Arguments:**

    - as `solve_alignment` (keyword options are passed on to it).

    **Returns:**

    `t_delta` of the broadcast shape: `0` if already aligned, `inf` if `D0 = pi` (mod 2pi)
    (status `NEVER_ALIGNS`) or the magnitude guard fired first; never NaN.
    """
    return solve_alignment(alpha0, beta0, D0, p, delta, reduction=reduction, **kwargs).t
