"""The paper's time and magnitude laws (Thm 5.3, Lemma C.3, Cor 6.1) as functions (SPEC 8-10).

The theory assumes a prime modulus `p`; every function here that takes `p` emits a
`UserWarning` when it is not prime (odd composites are allowed, SPEC 1).
"""

import math
import warnings

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp

from ._checks import check_in_open_interval, check_positive, is_prime
from ._types import Array, ArrayLike, Float, Reduction
from .reduced import (
    _angles,
    _check_options,
    _config,
    _cubic_root,
    _guard_cond,
    _is_pi,
    _scaled_initial_state,
    _solve_scaled,
    reduced_rate,
)


def _rate(p, reduction) -> float:
    r = reduced_rate(p, reduction)
    if not is_prime(int(p)):
        warnings.warn(
            f"p={p} is not prime: the paper's theory (and this bound) assumes a prime modulus.",
            UserWarning,
            stacklevel=3,
        )
    return r


def alignment_time_bound(
    kappa: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    delta: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
) -> Float[Array, "*batch"]:
    """The paper's alignment-time form (Thm 5.3, SPEC 10), for `alpha0 = beta0 = kappa`.

    `(r kappa)^-1 [1 - (delta / |sin D0|)^(1/3) + max(|D0| - pi/2, 0)]`, with `D0` taken in
    (-pi, pi] and `r = p` ("sum") or `1/p` ("mean"). The paper states `t_delta` is within
    constant factors of it; the true `t_delta` is `alignment_time_exact`. Measured (tests):
    `t_delta / bound` lies in [0.55, 1.70] while `|sin D0| > 2 delta`, widest next to pi;
    as `D0 -> pi` the form breaks down: `(delta/|sin D0|)^(1/3)` grows without bound and the
    bracket turns negative, while `t_delta ~ log(1/(pi - |D0|)) / (2 sqrt(2) r kappa)`.

    **Arguments:**

    - `kappa`: initial magnitude (> 0); `D0`: initial phase difference (any real).
    - `p`: the modulus (odd, >= 3; warns when not prime); `delta`: tolerance in (0, 1).
    - `reduction`: `"sum"` or `"mean"`.

    **Returns:**

    The bound's form, of the broadcast shape.
    """
    check_positive(kappa, "kappa")
    check_in_open_interval(delta, "delta", 0.0, 1.0)
    r = _rate(p, reduction)
    kappa, D0, delta = jnp.broadcast_arrays(*(jnp.asarray(x, float) for x in (kappa, D0, delta)))
    D0r = jnp.pi - jnp.remainder(jnp.pi - D0, 2 * jnp.pi)  # in (-pi, pi]
    sin_D0 = jnp.abs(jnp.sin(D0r))
    bracket = 1 - (delta / sin_D0) ** (1 / 3) + jnp.maximum(jnp.abs(D0r) - jnp.pi / 2, 0.0)
    return bracket / (r * kappa)


def magnitude_at_alignment(
    D0: Float[ArrayLike, "*batch"],
    delta: Float[ArrayLike, "*batch"],
) -> Float[Array, "*batch"]:
    """`R = beta(t_delta) / kappa` for `alpha0 = beta0 = kappa` (Thm 5.3, SPEC 8).

    The root `R > 1/sqrt(2)` of `R (2R^2 - 1) = |sin D0| / delta`: at alignment
    `alpha^2 beta = |I2| / delta` and `alpha^2 = 2 beta^2 - kappa^2` (the invariants).

    **Arguments:**

    - `D0`: initial phase difference (any real); `delta`: tolerance in (0, 1).

    **Returns:**

    `R` of the broadcast shape; `1` when already aligned (`cos D0 >= 0`, `|sin D0| <= delta`,
    so `t_delta = 0`); `inf` when `D0 = pi` (mod 2pi), which never aligns.
    """
    check_in_open_interval(delta, "delta", 0.0, 1.0)
    D0, delta = jnp.broadcast_arrays(jnp.asarray(D0, float), jnp.asarray(delta, float))
    sin_D0, cos_D0, _ = _angles(D0, jnp)
    R = _cubic_root(-1.0, sin_D0 / delta, jnp)
    R = jnp.where((cos_D0 >= 0) & (sin_D0 <= delta), 1.0, R)
    return jnp.where(_is_pi(D0, jnp), jnp.inf, R)


class DominanceResult(eqx.Module):
    """A multi-frequency neuron run to frequency dominance (from `solve_dominance`).

    `t` is `t_eps` (`inf` if there is no single winner or the guard fired first), `winner` the
    1-based frequency `argmin_k B_k(0)`, `beta` the magnitudes at `t` (`(..., K)`), `status`
    0 (dominance reached), 2 (magnitude guard) or 3 (solver failure), as in `fourierflow.reduced`.
    """

    t: Float[Array, "*batch"]
    winner: Array
    beta: Float[Array, "*batch K"]
    status: Array


def _dominance_event(t, y, args, **kwargs):
    del t, kwargs
    _, log_beta_max, winner, log_inv_eps = args
    log_b = y[1]
    K = log_b.shape[0]
    others = jnp.where(jnp.arange(K) == winner, -jnp.inf, log_b)
    gap = log_b[winner] - jnp.max(others)
    b_w = jnp.exp(log_b[winner])
    # Normalised by the winner's growth scale so the slope stays O(1) (bisection's f-test).
    cond = (log_inv_eps - gap) / (1 + 4 * b_w + jnp.exp(2 * y[0, winner] - log_b[winner]))
    return jnp.minimum(cond, _guard_cond(y[:, winner], log_beta_max))


# Dominance comes at a scaled time of O(1) .. O(log(1/(pi - B))); this only bounds the solve.
_TAU_MAX = 1e6


@eqx.filter_jit
def _dominance_flat(kappa, D0, r, log_inv_eps, log_beta_max, config):
    def single(kappa, D0, log_inv_eps):
        kappa_k = jnp.full_like(D0, kappa)
        s, sigma, y0 = _scaled_initial_state(kappa_k, kappa_k, D0)  # y0: (3, K)
        sin_D0, cos_D0, _ = _angles(D0, jnp)
        B0 = jnp.arctan2(sin_D0, cos_D0)  # misalignment in [0, pi]
        winner = jnp.argmin(B0)
        tie = jnp.sum(B0 == B0[winner]) > 1
        y0 = y0.at[2].set(jnp.where(_is_pi(D0, jnp), 50.0, y0[2]))
        sol = _solve_scaled(
            y0,
            sigma,
            jnp.where(tie, 0.0, _TAU_MAX),
            dfx.SaveAt(t1=True),
            _dominance_event,
            (log_beta_max, winner, log_inv_eps),
            config,
        )
        y1, tau = sol.ys[-1], sol.ts[-1]
        guard = _guard_cond(y1[:, winner], log_beta_max) <= 0
        ok = (sol.result == dfx.RESULTS.successful) | (sol.result == dfx.RESULTS.event_occurred)
        status = jnp.where(ok, jnp.where(guard | tie, 2, 0), 3)
        t = jnp.where(status == 0, tau / (r * s[0]), jnp.inf)
        return t, winner + 1, s * jnp.exp(y1[1]), status

    return jax.vmap(single)(kappa, D0, log_inv_eps)


def solve_dominance(
    kappa: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch K"],
    p: int,
    eps: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 4096,
    beta_max: float = 1e8,
    throw: bool = True,
) -> DominanceResult:
    """Run a multi-frequency neuron to dominance (Lemma C.3, Cor 6.1; SPEC 9).

    Every frequency `k` follows its own reduced ODE from `(kappa, kappa, D_k0)` (the main flow
    decouples them); `t_eps` is the first time `max_{k != w} beta_k / beta_w <= eps`, with the
    winner `w = argmin_k B_k(0)` (Lemma C.3: the ranking of `beta_k` is the reverse ranking of
    `B_k(0)` at all times). Found by a Diffrax event with bisection. Frequencies at `D0 = pi`
    are started a hair off `pi` (`tan(D/2) = e^50`); they never compete for the win.

    **Arguments:**

    - `kappa`: common initial magnitude (> 0); `D0`: initial phase differences, last axis K
      (>= 2) frequencies; `p`: the modulus (sets the rate; warns when not prime).
    - `eps`: dominance ratio in (0, 1); `reduction`: `"sum"` or `"mean"`.
    - `rtol`, `atol`, `max_steps`, `beta_max`, `throw`: as in `solve_reduced`.

    **Returns:**

    A `DominanceResult` with batch shape `broadcast(kappa, D0[..., 0], eps).shape`.
    """
    check_positive(kappa, "kappa")
    check_in_open_interval(eps, "eps", 0.0, 1.0)
    _check_options(rtol, atol, max_steps, beta_max)
    r = _rate(p, reduction)
    D0 = jnp.asarray(D0, float)
    if D0.ndim < 1 or D0.shape[-1] < 2:
        raise ValueError(f"`D0` must have a last axis of K >= 2 frequencies; got {D0.shape}.")
    K = D0.shape[-1]
    kappa = jnp.asarray(kappa, float)
    eps = jnp.asarray(eps, float)
    shape = jnp.broadcast_shapes(kappa.shape, D0.shape[:-1], eps.shape)
    D0 = jnp.broadcast_to(D0, shape + (K,)).reshape(-1, K)
    kappa = jnp.broadcast_to(kappa, shape).reshape(-1)
    log_inv_eps = -jnp.log(jnp.broadcast_to(eps, shape).reshape(-1))
    config = _config(dfx.Tsit5(), rtol, atol, max_steps, 1e-13, throw)
    t, winner, beta, status = _dominance_flat(
        kappa, D0, jnp.asarray(r), log_inv_eps, math.log(beta_max), config
    )
    return DominanceResult(
        t.reshape(shape), winner.reshape(shape), beta.reshape(shape + (K,)), status.reshape(shape)
    )


def dominance_time(
    kappa: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch K"],
    p: int,
    eps: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
    **kwargs,
) -> Float[Array, "*batch"]:
    """Dominance time `t_eps` of a multi-frequency neuron: `solve_dominance(...).t`.

    **Arguments:**

    - as `solve_dominance` (keyword options are passed on).

    **Returns:**

    `t_eps` (`inf` when there is no unique winner or the guard fired first).
    """
    return solve_dominance(kappa, D0, p, eps, reduction=reduction, **kwargs).t


def dominance_time_bound(
    kappa: Float[ArrayLike, "*batch"],
    p: int,
    eps: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
) -> Float[Array, "*batch"]:
    """The paper's dominance-time scale (Cor 6.1): `(log p + log(1/eps)) / (r kappa)`.

    The corollary bounds `t_eps` by this up to constants (`r = p` for "sum", `1/p` for
    "mean"); compare with `dominance_time`.

    **Arguments:**

    - `kappa`: initial magnitude (> 0); `p`: the modulus (warns when not prime);
      `eps`: dominance ratio in (0, 1); `reduction`: `"sum"` or `"mean"`.

    **Returns:**

    The scale, of the broadcast shape of `kappa` and `eps`.
    """
    check_positive(kappa, "kappa")
    check_in_open_interval(eps, "eps", 0.0, 1.0)
    r = _rate(p, reduction)
    kappa, eps = jnp.broadcast_arrays(jnp.asarray(kappa, float), jnp.asarray(eps, float))
    return (math.log(p) + jnp.log(1 / eps)) / (r * kappa)


__all__ = [
    "DominanceResult",
    "alignment_time_bound",
    "dominance_time",
    "dominance_time_bound",
    "magnitude_at_alignment",
    "solve_dominance",
]
