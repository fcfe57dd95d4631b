"""The four initializations of theory eqs. (14)-(17)."""

import math
from collections.abc import Callable, Sequence

import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ._checks import check_choice, check_modulus, check_positive, check_positive_int
from ._fourier import num_frequencies
from ._network import TwoLayerNet


def init_gaussian(
    key, p: int, width: int, scale: float = 0.1, activation: str | Callable = "quad"
) -> TwoLayerNet:
    """Every entry i.i.d. normal with std `scale / sqrt(p)` (the reference's `init_scale`).

    **Arguments:**

    - `key`: a `jax.random` key.
    - `p`: the modulus (odd, >= 3); `width`: the number of neurons M (>= 1).
    - `scale`: positive; `activation`: a name or callable.

    **Returns:**

    A `TwoLayerNet` with `(M, p)` weights.
    """
    p, width = check_modulus(p), check_positive_int(width, "width")
    check_positive(scale, "scale")
    k1, k2 = jr.split(key)
    std = scale / math.sqrt(p)
    return TwoLayerNet(std * jr.normal(k1, (width, p)), std * jr.normal(k2, (width, p)), activation)


def _cosine_rows(k, phase, p: int, amplitude):
    """Rows `amplitude * cos(w_k j + phase)` for per-row frequency `k` and phase."""
    k = jnp.asarray(k)[..., None]
    j = jnp.expand_dims(jnp.arange(p), range(k.ndim - 1))
    return amplitude * jnp.cos(2 * jnp.pi * k * j / p + phase[..., None])


def init_single_frequency(
    key,
    p: int,
    width: int,
    kappa: float,
    *,
    frequencies: str | Sequence[int] = "uniform",
    activation: str | Callable = "quad",
) -> TwoLayerNet:
    """Assumption 5.1: one frequency per neuron with magnitude `kappa` in both layers.

    `theta_m[j] = kappa cos(w_k j + phi_m)`, `xi_m[j] = kappa cos(w_k j + psi_m)`, phases i.i.d.
    uniform on [0, 2pi), every other component (DC included) zero.

    **Arguments:**

    - `key`: a `jax.random` key; `p`: modulus; `width`: neurons M.
    - `kappa`: the initial magnitude (> 0).
    - `frequencies`: `"uniform"` (i.i.d. uniform on 1..K), `"balanced"` (cycled through 1..K),
      or an explicit sequence of `width` frequencies in 1..K.
    - `activation`: a name or callable.

    **Returns:**

    A `TwoLayerNet`.
    """
    p, width = check_modulus(p), check_positive_int(width, "width")
    check_positive(kappa, "kappa")
    K = num_frequencies(p)
    kf, k1, k2 = jr.split(key, 3)
    if isinstance(frequencies, str):
        check_choice(frequencies, "frequencies", ("uniform", "balanced"))
        if frequencies == "uniform":
            ks = jr.randint(kf, (width,), 1, K + 1)
        else:
            ks = jnp.arange(width) % K + 1
    else:
        ks = np.asarray(frequencies, dtype=int)
        if ks.shape != (width,) or ks.min() < 1 or ks.max() > K:
            raise ValueError(
                f"`frequencies` must be 'uniform', 'balanced' or {width} integers in [1, {K}]; "
                f"got {frequencies!r}."
            )
        ks = jnp.asarray(ks)
    phi = jr.uniform(k1, (width,), minval=0.0, maxval=2 * jnp.pi)
    psi = jr.uniform(k2, (width,), minval=0.0, maxval=2 * jnp.pi)
    return TwoLayerNet(_cosine_rows(ks, phi, p, kappa), _cosine_rows(ks, psi, p, kappa), activation)


def init_multi_frequency(
    key, p: int, width: int, kappa: float, *, activation: str | Callable = "quad"
) -> TwoLayerNet:
    """Assumption C.1: every frequency present with `alpha_k = beta_k = kappa`, phases i.i.d.
    uniform on [0, 2pi), DC zero.

    **Arguments:**

    - `key`: a `jax.random` key; `p`: modulus; `width`: neurons M; `kappa` > 0.

    **Returns:**

    A `TwoLayerNet`.
    """
    p, width = check_modulus(p), check_positive_int(width, "width")
    check_positive(kappa, "kappa")
    K = num_frequencies(p)
    k1, k2 = jr.split(key)
    ks = jnp.broadcast_to(jnp.arange(1, K + 1), (width, K))
    phi = jr.uniform(k1, (width, K), minval=0.0, maxval=2 * jnp.pi)
    psi = jr.uniform(k2, (width, K), minval=0.0, maxval=2 * jnp.pi)
    theta = _cosine_rows(ks, phi, p, kappa).sum(axis=-2)
    xi = _cosine_rows(ks, psi, p, kappa).sum(axis=-2)
    return TwoLayerNet(theta, xi, activation)


def diversified(
    p: int,
    n_per_freq: int | Sequence[int],
    a: float = 1.0,
    *,
    freqs: Sequence[int] | None = None,
    phase_span: float = 2 * math.pi,
    sampling: str = "equispaced",
    key=None,
    alpha: float | None = None,
    activation: str | Callable = "quad",
) -> TwoLayerNet:
    """A fully diversified network (Definition 4.1, Prop 4.2).

    Each chosen frequency `k` gets `N_k` neurons `theta[j] = alpha cos(w_k j + phi)`,
    `xi[j] = beta cos(w_k j + 2 phi)` with `alpha^2 beta = a`, phases equispaced
    (`phi_n = phase_span * n / N_k`) or i.i.d. uniform on `[0, phase_span)`.

    **Arguments:**

    - `p`: modulus.
    - `n_per_freq`: neurons per frequency (an int, or one int per entry of `freqs`).
    - `a`: the product `alpha^2 beta` (> 0).
    - `freqs`: the frequencies used (default all of 1..K).
    - `phase_span`: in (0, 2pi]; `sampling`: `"equispaced"` or `"uniform"` (needs `key`).
    - `alpha`: the input magnitude (default `a^(1/3)`, so `alpha = beta`).
    - `activation`: a name or callable (the construction is for `quad`).

    **Returns:**

    A `TwoLayerNet` with `sum_k N_k` neurons, grouped by frequency in the order of `freqs`.
    """
    p = check_modulus(p)
    K = num_frequencies(p)
    check_positive(a, "a")
    check_choice(sampling, "sampling", ("equispaced", "uniform"))
    if not 0 < phase_span <= 2 * math.pi + 1e-12:
        raise ValueError(f"`phase_span` must lie in (0, 2pi]; got phase_span={phase_span!r}.")
    freqs = list(range(1, K + 1)) if freqs is None else [int(k) for k in freqs]
    if not freqs or min(freqs) < 1 or max(freqs) > K:
        raise ValueError(f"`freqs` must be a non-empty subset of 1..{K}; got freqs={freqs!r}.")
    counts = [n_per_freq] * len(freqs) if np.ndim(n_per_freq) == 0 else list(n_per_freq)
    if len(counts) != len(freqs):
        raise ValueError(
            f"`n_per_freq` must be an int or have one entry per frequency ({len(freqs)}); "
            f"got {n_per_freq!r}."
        )
    for n in counts:
        check_positive_int(n, "n_per_freq")
    if sampling == "uniform" and key is None:
        raise ValueError("`key` is required when sampling='uniform'.")
    alpha = a ** (1 / 3) if alpha is None else alpha
    check_positive(alpha, "alpha")
    beta = a / alpha**2
    ks, phis = [], []
    for i, (k, n) in enumerate(zip(freqs, counts, strict=True)):
        if sampling == "equispaced":
            phi = phase_span * jnp.arange(n) / n
        else:
            phi = jr.uniform(jr.fold_in(key, i), (n,), minval=0.0, maxval=phase_span)
        ks.append(jnp.full((n,), k))
        phis.append(phi)
    ks, phis = jnp.concatenate(ks), jnp.concatenate(phis)
    return TwoLayerNet(
        _cosine_rows(ks, phis, p, alpha), _cosine_rows(ks, 2 * phis, p, beta), activation
    )
