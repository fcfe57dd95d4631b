"""The time scale of the dynamics: the rate `r(p, reduction)` and the scaled time `tau`.

With the summed loss the per-frequency ODE runs at rate `r = p`; with the mean loss at
`r = 1/p` (the loss is divided by `n = p^2`). With `alpha0 = beta0 = kappa` the scaled time
`tau = r kappa t` makes the problem free of `p`, `kappa` and the reduction (theory: scaling).
"""

import jax.numpy as jnp

from ._checks import check_modulus, check_reduction
from ._types import Reduction

__all__ = ["reduced_rate"]


def reduced_rate(p: int, reduction: Reduction = "sum") -> float:
    """The rate `r` of the per-frequency ODE: `p` for `reduction="sum"`, `1/p` for `"mean"`.

    **Arguments:**

    - `p`: the modulus (odd, >= 3).
    - `reduction`: `"sum"` or `"mean"`.

    **Returns:**

    The Python float `r`.
    """
    p = check_modulus(p)
    return float(p) if check_reduction(reduction) == "sum" else 1.0 / p


def rate(p, reduction: Reduction):
    """`r` for a possibly traced, per-element `p` (an array): `p` or `1/p`."""
    p = jnp.asarray(p, dtype=float)
    return p if reduction == "sum" else 1 / p


def scaled_time(t, kappa, p, reduction: Reduction):
    """`tau = r kappa t`: `p kappa t` ("sum") or `kappa t / p` ("mean"), the collapse variable."""
    return rate(p, reduction) * kappa * t


# A reference modulus: the per-frequency solves integrate in scaled time, so `p` enters only
# through `t = tau / (r beta0)`. Solving once at `P_REF` and multiplying the times by
# `rate_ratio(p)` is the same computation with `p` a traced per-element value (one
# compilation for every p of a sweep instead of one per p).
P_REF = 3


def rate_ratio(p, reduction: Reduction):
    """`r(P_REF) / r(p)`: multiply a time computed at `P_REF` by this to get it at `p`."""
    return rate(P_REF, reduction) / rate(p, reduction)


def theory_rate(p: int, reduction: Reduction) -> float:
    """`reduced_rate(p, reduction)`, warning when `p` is not prime: the paper's theorems
    (bounds, laws) assume a prime modulus."""
    import warnings

    from ._checks import is_prime

    r = reduced_rate(p, reduction)
    if not is_prime(int(p)):
        warnings.warn(
            f"p={p} is not prime: the paper's theory (and this law) assumes a prime modulus.",
            UserWarning,
            stacklevel=3,
        )
    return r
