"""The exact event times of the per-frequency ODE: closed forms by Carlson's `R_F`.

With `v = beta^2` the invariants give `(v')^2 = 4 r^2 P(v)`, `P(v) = v (2v + I1)^2 - I2^2`, so
every event time (the turning point `cos D = 0`, the alignment time `t_delta`, the blow-up
`t_star`) is an elliptic integral along the cubic `P`. Two back-ends compute the same formulas:
NumPy with `scipy.special.elliprf` in complex arithmetic (the float64 reference:
`alignment_time_exact`, `turning_time`, `blowup_time`) and JAX with `carlson_rf`, a real
duplication algorithm (jittable, for sweeps: the `*_closed_form` functions).

The trajectory is parametrised by the turning point (where `beta_t^2` is the largest root `e1`
of `P`) and the "level" `m = alpha^2 beta = |I2| / |sin D|` (`m = |I2|` at the turning point,
`|I2|/delta` at alignment, `inf` at blow-up). With `g = alpha_t^2 / 2` and `u = v - e1`, the
other two roots enter `R_F` only through `y + z = 2u + 2g + e1` and
`y z = u^2 + u (e1 + 2g) + g (g + 2 e1)`: sums of positive terms, free of cancellation (real
and complex-conjugate roots alike). Magnitudes are scaled by `beta0` first (time scales by
`1 / beta0`), so the formulas hold over the whole float64 range of `kappa`.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

from ._checks import check_in_open_interval, check_reduced_state
from ._phase_variable import angles
from ._timescale import reduced_rate
from ._types import Array, ArrayLike, Float, Reduction

__all__ = [
    "alignment_time_closed_form",
    "alignment_time_exact",
    "blowup_time",
    "blowup_time_closed_form",
    "carlson_rf",
    "turning_time",
    "turning_time_closed_form",
]


def cubic_root(I1, m, xp):
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


def _trajectory(alpha0, beta0, D0, xp, precomputed=None) -> _Trajectory:
    sin_D0, cos_D0, _ = angles(D0, xp) if precomputed is None else precomputed
    I1 = alpha0**2 - 2 * beta0**2
    m0 = alpha0**2 * beta0
    c = m0 * sin_D0
    # 1 - |sin D0| = cos^2 D0 / (1 + |sin D0|): exact near the turning point.
    m0_minus_c = m0 * cos_D0**2 / (1 + sin_D0)
    b_t = cubic_root(I1, c, xp)
    b_safe = xp.where(b_t > 0, b_t, 1.0)
    # g = c / (2 b_t) keeps relative precision where g = e1 + I1/2 would cancel (D0 -> pi).
    g = xp.where(b_t > 0, c / (2 * b_safe), I1 / 2)
    # `angles` maps D0 = pi (mod 2pi, to a few ulps) to sin = 0, cos = -1 exactly.
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


def _event_time(alpha0, beta0, D0, r, event, delta, xp, rf, precomputed=None):
    """Time from the initial state to `event` along the cubic; `rf(x, S, Q)` is R_F.

    From a point at offset `u` to blow-up: `F(u) = R_F(u, y, z) / (2r)` (theory eq. (35)). From the
    turning point to offset `u`: Carlson's two-limit formula with one limit at the root `e1`,
    `T(u) = sqrt(u) R_F(Q0, y', z') / (2r)`, `y' + z' = 2 Q0 + u (e1 + 2g)`,
    `y' z' = Q0 Q(u)`, `Q0 = Q(0) = g (g + 2 e1)`: exact in relative terms even for tiny `u`
    (states next to the turning point), where `F(0) - F(u)` would cancel.
    """
    tr = _trajectory(alpha0, beta0, D0, xp, precomputed)
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
        b_e = cubic_root(tr.I1, tr.c + m_minus_c, xp)
        T_e, T_0 = T(_offset(tr, b_e, m_minus_c)), T(u0)
        already = (~before_turn) & (tr.m0 >= tr.c / delta)
        t = xp.where(before_turn, T_0 + T_e, xp.where(already, 0.0, T_e - T_0))
    # D0 = pi never leaves pi (and on the I1 > 0 side the closed form would describe the
    # beta = 0 crossing, which the reduced ODE cannot pass): inf, never NaN.
    return xp.where(tr.at_pi, np.inf, t)


def _carlson_rf_complex(x, S, Q):
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


def carlson_rf(
    x: Float[ArrayLike, "*batch"], S: Float[ArrayLike, "*batch"], Q: Float[ArrayLike, "*batch"]
) -> Float[Array, "*batch"]:
    """Carlson's symmetric elliptic integral `R_F(x, y, z)` in JAX, real arithmetic.

    `y, z` enter only through `S = y + z` and `Q = y z`, so they may be a complex-conjugate
    pair (`S^2 < 4Q`): `sqrt(y) sqrt(z) = sqrt(Q)` and `sqrt(y) + sqrt(z) = sqrt(S + 2 sqrt(Q))`.
    A fixed number of duplications (each shrinks the spread of the arguments by 4) then the
    degree-7 series of Carlson (1995): jittable, vectorised, about 1e-14 relative against
    `scipy.special.elliprf`. The exact times of the theory page are differences of
    `R_F / (2r)`.

    **Arguments:**

    - `x`: the first argument, `>= 0`.
    - `S`, `Q`: `y + z` and `y z` of the other two (`y, z` real `>= 0`, or complex conjugates
      with positive real part).

    **Returns:**

    `R_F(x, y, z)`; `inf` at the logarithmic singularity `x = 0 = y z`.
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


def _scaled_event_time(alpha0, beta0, D0, r, event, delta, xp, rf, precomputed=None):
    """`_event_time` with the magnitudes scaled by `beta0`: `t(alpha0, beta0) =
    t(alpha0/beta0, 1) / beta0`, so no power of `kappa` under- or overflows."""
    t = _event_time(alpha0 / beta0, xp.ones_like(beta0), D0, 1.0, event, delta, xp, rf, precomputed)
    return t / (r * beta0)


def _event_time_numpy(alpha0, beta0, D0, p, reduction, event, delta):
    r = reduced_rate(p, reduction)
    arrays = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (alpha0, beta0, D0, delta))
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _scaled_event_time(*arrays[:3], r, event, arrays[3], np, _carlson_rf_complex)


def alignment_time_exact(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    delta: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
) -> Float[np.ndarray, "*batch"]:
    """Alignment time `t_delta` from the closed form: the float64 reference value.

    `t_delta` is the first time `B <= arcsin(delta)` on the aligned side (after the turning
    point `cos D = 0` when `B0 > pi/2`). Computed as differences of
    `R_F(v - e1, v - e2, v - e3) / (2r)` (`scipy.special.elliprf`), the time from `v = beta^2`
    to blow-up along `(v')^2 = 4 r^2 P(v)`; about 1e-13 relative. NumPy, not jittable (see
    `alignment_time_closed_form` for the JAX version).

    **Arguments:**

    - `alpha0`, `beta0`: initial magnitudes (> 0); `D0`: initial phase difference (any real).
    - `p`: the modulus (odd, >= 3); `delta`: tolerance in (0, 1).
    - `reduction`: `"sum"` (rate `p`) or `"mean"` (rate `1/p`).

    **Returns:**

    A float64 NumPy array of the broadcast shape: `t_delta`; `0` when already aligned
    (`cos D0 >= 0` and `|sin D0| <= delta`); `inf` when `D0 = pi` (mod 2pi), which never aligns.
    """
    p = check_reduced_state(alpha0, beta0, D0, p, reduction)
    check_in_open_interval(delta, "delta", 0.0, 1.0)
    return _event_time_numpy(alpha0, beta0, D0, p, reduction, "alignment", delta)


def turning_time(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    *,
    reduction: Reduction = "sum",
) -> Float[np.ndarray, "*batch"]:
    """Exact time of the turning point `cos D = 0`, where the magnitudes stop shrinking.

    **Arguments:**

    - `alpha0`, `beta0`: initial magnitudes (> 0); `D0`: initial phase difference (any real).
    - `p`: the modulus (odd, >= 3); `reduction`: `"sum"` or `"mean"`.

    **Returns:**

    Float64 NumPy array: the time until `cos D = 0` when `B0 > pi/2`; `0` when `B0 <= pi/2`
    (the magnitudes already grow); `inf` when `D0 = pi` (mod 2pi).
    """
    p = check_reduced_state(alpha0, beta0, D0, p, reduction)
    return _event_time_numpy(alpha0, beta0, D0, p, reduction, "turning", 0.5)


def blowup_time(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    *,
    reduction: Reduction = "sum",
) -> Float[np.ndarray, "*batch"]:
    """Exact finite-time blow-up `t_star` of the per-frequency ODE: `beta -> inf`.

    **Arguments:**

    - `alpha0`, `beta0`: initial magnitudes (> 0); `D0`: initial phase difference (any real).
    - `p`: the modulus (odd, >= 3); `reduction`: `"sum"` or `"mean"`.

    **Returns:**

    Float64 NumPy array `t_star`; `inf` when `D0 = pi` (mod 2pi).
    """
    p = check_reduced_state(alpha0, beta0, D0, p, reduction)
    return _event_time_numpy(alpha0, beta0, D0, p, reduction, "blowup", 0.5)


# `sin D0` and `cos D0` are computed by a jit of their own: inside one jit XLA duplicates
# them into every consumer fusion (24 evaluations of `sin` per element, half the run time).
_angles_jit = jax.jit(lambda D0: angles(D0, jnp))


@functools.partial(jax.jit, static_argnames=("event",))
def _event_time_jit(alpha0, beta0, D0, r, delta, precomputed, event):
    return _scaled_event_time(alpha0, beta0, D0, r, event, delta, jnp, carlson_rf, precomputed)


def _event_time_jax(alpha0, beta0, D0, p, reduction, event, delta):
    r = jnp.asarray(reduced_rate(p, reduction), dtype=float)  # traced: one compile for all p
    arrays = jnp.broadcast_arrays(
        *(jnp.asarray(x, dtype=float) for x in (alpha0, beta0, D0, delta))
    )
    return _event_time_jit(*arrays[:3], r, arrays[3], _angles_jit(arrays[2]), event)


def alignment_time_closed_form(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    delta: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
) -> Float[Array, "*batch"]:
    """`t_delta` from the closed form in JAX: jittable, vectorised, for big sweeps.

    Same formula as `alignment_time_exact`, with Carlson's `R_F` by `carlson_rf` (no root
    finding, no loops with data-dependent length).

    **Arguments:**

    - `alpha0`, `beta0`: initial magnitudes (> 0); `D0`: initial phase difference (any real).
    - `p`: the modulus (odd, >= 3); `delta`: tolerance in (0, 1).
    - `reduction`: `"sum"` or `"mean"` (static).

    **Returns:**

    `t_delta` of the broadcast shape; `0` if already aligned; `inf` when `D0 = pi` (mod 2pi).
    """
    p = check_reduced_state(alpha0, beta0, D0, p, reduction)
    check_in_open_interval(delta, "delta", 0.0, 1.0)
    return _event_time_jax(alpha0, beta0, D0, p, reduction, "alignment", delta)


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
    p = check_reduced_state(alpha0, beta0, D0, p, reduction)
    return _event_time_jax(alpha0, beta0, D0, p, reduction, "blowup", 0.5)


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
    p = check_reduced_state(alpha0, beta0, D0, p, reduction)
    return _event_time_jax(alpha0, beta0, D0, p, reduction, "turning", 0.5)
