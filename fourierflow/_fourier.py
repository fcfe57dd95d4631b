"""The real Fourier basis of R^p and polar coordinates per frequency (theory eqs. (7)-(13)).

Conventions: `K = (p - 1) / 2`, `w_k = 2 pi k / p` for k = 1..K. For `v` in R^p,
`v[j] = g0 / sqrt(p) + sum_k alpha_k cos(w_k j + phi_k)` exactly, with
`alpha_k = sqrt(2/p) hypot(gc_k, gs_k)` and `phi_k = atan2(-gs_k, gc_k)`.
"""

import math

import jax.numpy as jnp
import numpy as np

from ._checks import check_modulus
from ._types import Array, ArrayLike, Float, Int


def num_frequencies(p: int) -> int:
    """The number of nonzero frequencies of Z_p up to sign.

    **Arguments:**

    - `p`: the modulus (odd, >= 3).

    **Returns:**

    `K = (p - 1) / 2`.
    """
    return (check_modulus(p) - 1) // 2


def frequencies(p: int) -> Float[Array, " K"]:
    """The angular frequencies of theory eqs. (7)-(13).

    **Arguments:**

    - `p`: the modulus (odd, >= 3).

    **Returns:**

    `w_k = 2 pi k / p` for k = 1..K, shape `(K,)`.
    """
    return 2 * jnp.pi * jnp.arange(1, num_frequencies(p) + 1) / p


def fourier_basis(p: int) -> Float[np.ndarray, "p p"]:
    """Orthonormal real Fourier basis of R^p, as rows: `[b0, c_1..c_K, s_1..s_K]`.

    **Arguments:**

    - `p`: the modulus (odd, >= 3).

    **Returns:**

    A `(p, p)` NumPy float64 array `F` with `F @ F.T = I`: row 0 is `b0 = 1/sqrt(p)`,
    rows `1..K` are `c_k[j] = sqrt(2/p) cos(w_k j)`, rows `K+1..2K` are
    `s_k[j] = sqrt(2/p) sin(w_k j)`.
    """
    K = num_frequencies(p)
    j = np.arange(p)
    w = 2 * np.pi * np.arange(1, K + 1)[:, None] / p
    b0 = np.full((1, p), 1 / math.sqrt(p))
    c = math.sqrt(2 / p) * np.cos(w * j)
    s = math.sqrt(2 / p) * np.sin(w * j)
    return np.concatenate([b0, c, s], axis=0)


def fourier_coefficients(
    v: Float[ArrayLike, "*batch p"],
) -> tuple[Float[Array, "*batch"], Float[Array, "*batch K"], Float[Array, "*batch K"]]:
    """Coefficients of `v` in the basis of `fourier_basis`.

    **Arguments:**

    - `v`: array whose last axis has length p (odd, >= 3).

    **Returns:**

    `(g0, gc, gs)`: the DC coefficient `<v, b0>` and the cosine/sine coefficients
    `<v, c_k>`, `<v, s_k>` for k = 1..K.
    """
    v = jnp.asarray(v)
    p = v.shape[-1]
    K = num_frequencies(p)
    coeffs = v @ jnp.asarray(fourier_basis(p), dtype=v.dtype).T
    return coeffs[..., 0], coeffs[..., 1 : K + 1], coeffs[..., K + 1 :]


def polar(
    v: Float[ArrayLike, "*batch p"],
) -> tuple[Float[Array, "*batch K"], Float[Array, "*batch K"]]:
    """Magnitude and phase of `v` at every frequency (theory eqs. (7)-(13)).

    **Arguments:**

    - `v`: array whose last axis has length p; leading axes are batch axes.

    **Returns:**

    `(alpha, phi)`, each of shape `v.shape[:-1] + (K,)`, with
    `alpha_k = sqrt(2/p) hypot(gc_k, gs_k)` and `phi_k = atan2(-gs_k, gc_k)` in (-pi, pi], so
    that `v[j] = mean(v) + sum_k alpha_k cos(w_k j + phi_k)`.
    """
    v = jnp.asarray(v)
    p = v.shape[-1]
    _, gc, gs = fourier_coefficients(v)
    return math.sqrt(2 / p) * jnp.hypot(gc, gs), jnp.arctan2(-gs, gc)


def from_polar(
    magnitude: Float[ArrayLike, "*batch K"],
    phase: Float[ArrayLike, "*batch K"],
    dc: Float[ArrayLike, "*batch"] = 0.0,
) -> Float[Array, "*batch p"]:
    """Inverse of `polar`: `v[j] = dc / sqrt(p) + sum_k magnitude_k cos(w_k j + phase_k)`.

    **Arguments:**

    - `magnitude`, `phase`: arrays whose last axis has length K; `p = 2K + 1`.
    - `dc`: the DC coefficient `g0 = <v, b0>` (default 0).

    **Returns:**

    The vector(s) `v` with last axis of length p.
    """
    magnitude, phase = jnp.asarray(magnitude), jnp.asarray(phase)
    K = magnitude.shape[-1]
    p = 2 * K + 1
    j = jnp.arange(p)
    w = frequencies(p)
    phase = phase[..., :, None]
    waves = jnp.cos(jnp.expand_dims(jnp.outer(w, j), range(phase.ndim - 2)) + phase)
    v = jnp.einsum("...k,...kj->...j", magnitude, waves)
    dc = jnp.broadcast_to(jnp.asarray(dc), v.shape[:-1])
    return v + dc[..., None] / math.sqrt(p)


def phase_difference(
    phi: Float[ArrayLike, "*batch"], psi: Float[ArrayLike, "*batch"]
) -> Float[Array, "*batch"]:
    """The phase difference (theory eqs. (7)-(13)).

    **Arguments:**

    - `phi`: input-layer phases; `psi`: output-layer phases (broadcastable).

    **Returns:**

    `D = (2 phi - psi) mod 2pi`, in [0, 2pi).
    """
    return jnp.mod(2 * jnp.asarray(phi) - jnp.asarray(psi), 2 * jnp.pi)


def wrap_angle(angle: Float[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
    """An angle wrapped to (-pi, pi] (the range of `polar`'s phases).

    **Arguments:**

    - `angle`: any real angles.

    **Returns:**

    `angle` mod 2pi, in (-pi, pi].
    """
    return jnp.pi - jnp.mod(jnp.pi - jnp.asarray(angle), 2 * jnp.pi)


def misalignment(D: Float[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
    """The misalignment (theory eqs. (7)-(13)).

    **Arguments:**

    - `D`: phase differences, any real (taken mod 2pi).

    **Returns:**

    `B = min(D, 2pi - D)` in [0, pi].
    """
    D = jnp.mod(jnp.asarray(D), 2 * jnp.pi)
    return jnp.minimum(D, 2 * jnp.pi - D)


def dominant_frequency(magnitude: Float[ArrayLike, "*batch K"]) -> Int[Array, "*batch"]:
    """The frequency of largest magnitude.

    **Arguments:**

    - `magnitude`: `(..., K)` magnitudes; pass `beta` for the paper's (output-layer)
      convention, `alpha` for the input-layer variant.

    **Returns:**

    The frequency `k` in 1..K (not a 0-based index), shape `magnitude.shape[:-1]`.
    """
    return jnp.argmax(jnp.asarray(magnitude), axis=-1) + 1


def ipr(v: Float[ArrayLike, "*batch p"]) -> Float[Array, "*batch"]:
    """Inverse participation ratio of the non-DC spectrum (theory eqs. (7)-(13)).

    **Arguments:**

    - `v`: array whose last axis has length p.

    **Returns:**

    `sum_k a_k^4 / (sum_k a_k^2)^2` with `a_k = hypot(gc_k, gs_k)`: 1 for a single frequency,
    `1/K` for a flat spectrum; NaN for a vector without any frequency content (a dead neuron:
    its sparsity is undefined).
    """
    _, gc, gs = fourier_coefficients(v)
    a2 = gc**2 + gs**2
    total = jnp.sum(a2, axis=-1)
    safe = jnp.where(total > 0, total, 1.0)
    return jnp.where(total > 0, jnp.sum(a2**2, axis=-1) / safe**2, jnp.nan)
