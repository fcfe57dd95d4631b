"""The phase difference `D` and the variable `ell = log tan(|D|/2)` the solvers integrate.

`D` never crosses 0 or pi, so it is kept as its half-plane sign `sigma` and
`ell = log tan(|D|/2)`: `sin D = sigma sech(ell)` and `cos D = -tanh(ell)` keep full relative
precision both near alignment (`D -> 0`, `ell -> -inf`) and near the unstable point
(`D -> pi`, `ell -> +inf`), where `D` itself loses every digit of `pi - D`. Every function
takes the array module `xp` (NumPy or jax.numpy), as the closed forms run on both.
"""

import math

import numpy as np


def is_pi(D0, xp):
    """Whether `D0` is the unstable point pi (mod 2pi): the float nearest to pi, `math.pi`,
    or one of its odd multiples (whose remainder mod `2 math.pi` is `math.pi` exactly).

    Any other float, however close, is a state off the fixed point with a finite alignment
    time (about `log(1 / |sin D0|) / (2 sqrt(2) r kappa)` there), and is solved as one.
    """
    return xp.remainder(D0, 2 * math.pi) == math.pi


def angles(D0, xp):
    """`(|sin D0|, cos D0, sign of sin D0)` with D0 = pi (mod 2pi) mapped to sin = 0 exactly."""
    at_pi = is_pi(D0, xp)
    sin_D0 = xp.where(at_pi, 0.0, xp.sin(D0))
    cos_D0 = xp.where(at_pi, -1.0, xp.cos(D0))
    sigma = xp.where(sin_D0 < 0, -1.0, 1.0)
    return xp.abs(sin_D0), cos_D0, sigma


def ell_of(sin_abs, cos, xp):
    """`ell = log tan(|D|/2) = asinh(-cot D)` from `|sin D|` and `cos D` (+-inf at 0 and pi)."""
    safe = xp.where(sin_abs > 0, sin_abs, 1.0)
    return xp.where(sin_abs > 0, xp.arcsinh(-cos / safe), xp.where(cos > 0, -xp.inf, xp.inf))


def ell_aligned(delta, xp):
    """The alignment level `ell_delta = -arccosh(1/delta)`: `|sin D| = delta`, `cos D > 0`."""
    return -xp.arccosh(1 / delta)


def alignment_span(D0, delta, xp):
    """`max(ell0 - ell_delta, 0)`: the length of the alignment solve in `ell` (0 if already
    aligned, inf at D0 = pi): the solve's interval and a proxy for its cost."""
    sin_D0, cos_D0, _ = angles(D0, xp)
    return xp.maximum(ell_of(sin_D0, cos_D0, xp) - ell_aligned(delta, xp), 0.0)


def D_from_ell(ell, sigma, xp):
    """`D` in [0, 2pi) from `ell = log tan(|D|/2)` and the half-plane sign."""
    D_abs = xp.arctan2(1 / xp.cosh(ell), -xp.tanh(ell))
    D = xp.where(sigma > 0, D_abs, 2 * math.pi - D_abs)
    return xp.minimum(D, np.nextafter(2 * np.pi, 0.0))
