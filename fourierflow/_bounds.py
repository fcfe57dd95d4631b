"""The paper's time and magnitude laws: the Thm 5.3 alignment-time form, the magnitude at
alignment and the Cor 6.1 dominance-time scale.

The theory assumes a prime modulus `p`; every function here that takes `p` warns
(`UserWarning`) when it is not prime (odd composites are allowed).
"""

import math

import jax.numpy as jnp

from ._checks import check_in_open_interval, check_positive
from ._closed_form import cubic_root
from ._phase_variable import angles, is_pi
from ._timescale import theory_rate
from ._types import Array, ArrayLike, Float, Reduction

__all__ = ["alignment_time_bound", "dominance_time_bound", "magnitude_at_alignment"]


def alignment_time_bound(
    kappa: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    delta: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
) -> Float[Array, "*batch"]:
    """The paper's alignment-time form (Thm 5.3, theory eq. (35)), for `alpha0 = beta0 = kappa`.

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
    r = theory_rate(p, reduction)
    kappa, D0, delta = jnp.broadcast_arrays(*(jnp.asarray(x, float) for x in (kappa, D0, delta)))
    D0r = jnp.pi - jnp.remainder(jnp.pi - D0, 2 * jnp.pi)  # in (-pi, pi]
    sin_D0 = jnp.abs(jnp.sin(D0r))
    bracket = 1 - (delta / sin_D0) ** (1 / 3) + jnp.maximum(jnp.abs(D0r) - jnp.pi / 2, 0.0)
    return bracket / (r * kappa)


def magnitude_at_alignment(
    D0: Float[ArrayLike, "*batch"],
    delta: Float[ArrayLike, "*batch"],
) -> Float[Array, "*batch"]:
    """`R = beta(t_delta) / kappa` for `alpha0 = beta0 = kappa` (Thm 5.3, theory eq. (24)).

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
    sin_D0, cos_D0, _ = angles(D0, jnp)
    R = cubic_root(-1.0, sin_D0 / delta, jnp)
    R = jnp.where((cos_D0 >= 0) & (sin_D0 <= delta), 1.0, R)
    return jnp.where(is_pi(D0, jnp), jnp.inf, R)


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
    r = theory_rate(p, reduction)
    kappa, eps = jnp.broadcast_arrays(jnp.asarray(kappa, float), jnp.asarray(eps, float))
    return (math.log(p) + jnp.log(1 / eps)) / (r * kappa)
