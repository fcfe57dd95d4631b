"""Harmonic leakage of a single-frequency neuron's gradient (paper Prop 6.3, Obs. 7; theory
eqs. (44)-(46)).

In the main-flow regime the softmax is the uniform distribution (weights small), so the loss
decouples over neurons (the paper's `ell_m`, Section B.2): on full data,

    L_m = sum_{x, y} (mean(xi_m) - xi_m[x + y]) act(theta_m[x] + theta_m[y]).

At a single-frequency neuron `theta[j] = alpha cos(w j + phi)`, `xi[j] = beta cos(w j + psi)`
(`w = w_{k*}`, `D = 2 phi - psi`) and `act = relu`, the p -> inf limits of the descent
directions are (derivation in the docstrings of `leakage_ratio_law`):

    -dL/dxi[j]    -> (2 alpha p / pi) |cos(w j / 2 + phi)|            (+ a constant)
    -dL/dtheta[i] -> (2 beta p / pi) |sin(w i + phi)| cos(w i + phi - D),

whose Fourier series put energy at the harmonics `r k*` (mod p) with the magnitude ratios of
`leakage_ratio_law`.
"""

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._activations import get_activation
from ._checks import check_choice, check_modulus, check_positive_int, check_reduction
from ._data import all_pairs
from ._fourier import num_frequencies, polar
from ._network import TwoLayerNet, loss
from ._types import Array, ArrayLike, Float, Int, Reduction


def _check_net(net: TwoLayerNet) -> None:
    if net.embedding is not None or net.theta.ndim != 2:
        raise ValueError(
            "`net` must be an unbatched one-hot network (theta of shape (M, p), no embedding); "
            f"got theta.shape={net.theta.shape}, embedding set: {net.embedding is not None}."
        )


def decoupled_loss(net: TwoLayerNet, reduction: Reduction = "sum") -> Float[Array, ""]:
    """The loss with the softmax replaced by the uniform distribution (main flow, Lemma B.3).

    Its gradient is exactly the main-flow gradient of the cross-entropy on full data: the
    cross-entropy's gradient in the logits, `softmax(f) - onehot(z)`, becomes
    `1/p - onehot(z)`. It is linear in the logits and a sum of per-neuron terms

        L = sum_m sum_{x, y} (mean(xi_m) - xi_m[x + y]) act(theta_m[x] + theta_m[y]),

    evaluated on a `(M, p, p)` grid (no `(p^2, p)` logits tensor), so p ~ 1000 is cheap.

    **Arguments:**

    - `net`: an unbatched one-hot `TwoLayerNet` (no embedding).
    - `reduction`: `"sum"` over the `p^2` pairs or `"mean"` (divides by `p^2`).

    **Returns:**

    The scalar surrogate loss (its value is not the cross-entropy; its gradient is the main
    flow's).
    """
    check_reduction(reduction)
    _check_net(net)
    p = net.p
    act = get_activation(net.activation)
    idx = jnp.arange(p)
    u = net.theta[:, :, None] + net.theta[:, None, :]  # (M, x, y)
    xi_sum = net.xi[:, (idx[:, None] + idx[None, :]) % p]  # (M, x, y): xi_m[x + y]
    total = jnp.sum((jnp.mean(net.xi, axis=-1)[:, None, None] - xi_sum) * act(u))
    return total if reduction == "sum" else total / p**2


def gradient_spectrum(
    net: TwoLayerNet,
    *,
    softmax: Literal["uniform", "exact"] = "uniform",
    reduction: Reduction = "sum",
) -> dict[str, Float[Array, "M K"]]:
    """Polar spectrum (theory eqs. (7)-(13)) of the descent direction `-grad L` of every neuron.

    **Arguments:**

    - `net`: an unbatched one-hot `TwoLayerNet`.
    - `softmax`: `"uniform"` for the main-flow gradient (`decoupled_loss`, any p), or
      `"exact"` for the gradient of the true cross-entropy on all `p^2` pairs (memory
      `p^3`: keep p <= ~300).
    - `reduction`: `"sum"` or `"mean"` (ratios do not depend on it).

    **Returns:**

    A dict with `alpha, phi` (magnitude and phase of `-dL/dtheta_m`) and `beta, psi` (of
    `-dL/dxi_m`), each of shape `(M, K)`, and the gradients themselves `g_theta`, `g_xi`
    (`(M, p)`, the descent directions).
    """
    check_choice(softmax, "softmax", ("uniform", "exact"))
    check_reduction(reduction)
    _check_net(net)
    return _gradient_spectrum(net, softmax, reduction)


@eqx.filter_jit
def _gradient_spectrum(net, softmax, reduction):
    # One compiled program: op-by-op dispatch of the backward pass is ~10x slower at small p.
    if softmax == "uniform":
        grads = jax.grad(decoupled_loss)(net, reduction)
    else:
        x, y = all_pairs(net.p)
        grads = jax.grad(loss)(net, x, y, reduction)
    g_theta, g_xi = -grads.theta, -grads.xi
    alpha, phi = polar(g_theta)
    beta, psi = polar(g_xi)
    return dict(alpha=alpha, phi=phi, beta=beta, psi=psi, g_theta=g_theta, g_xi=g_xi)


def harmonic_orders(p: int, k_star: int) -> Int[np.ndarray, " K"]:
    """For every frequency `k` = 1..K, the smallest `r >= 1` with `r k* = +-k (mod p)`
    (Definition 6.2, frequency multiplication).

    **Arguments:**

    - `p`: the modulus (odd, >= 3); the map is a bijection of 1..K when p is prime.
    - `k_star`: the neuron's feature frequency, in 1..K.

    **Returns:**

    A NumPy int array of length K (`r[k - 1]` for frequency k; 0 where no r <= K exists,
    which happens only for composite p).
    """
    p = check_modulus(p)
    K = num_frequencies(p)
    k_star = check_positive_int(k_star, "k_star")
    if k_star > K:
        raise ValueError(f"`k_star` must lie in 1..{K}; got k_star={k_star}.")
    orders = np.zeros(K, dtype=int)
    for r in range(K, 0, -1):  # descending, so the smallest r wins
        k = (r * k_star) % p
        k = min(k, p - k)
        if k:
            orders[k - 1] = r
    return orders


def leakage_ratio_law(
    r: Int[ArrayLike, "*batch"],
    layer: Literal["xi", "theta"] = "xi",
    D: Float[ArrayLike, "*batch"] = 0.0,
) -> Float[Array, "*batch"]:
    """The p -> inf ratio of the gradient's magnitude at harmonic `r k*` to the fundamental
    `k*`, at a single-frequency ReLU neuron in the main flow (Prop 6.3, Obs. 7).

    - `layer="xi"`: `-dL/dxi[j] ~ |cos(u)|` with `u = w j / 2 + phi`, whose series
      `|cos u| = 2/pi + (4/pi) sum_r (-1)^(r+1) cos(2 r u) / (4 r^2 - 1)` gives leakage at every
      `r` with ratio `3 / (4 r^2 - 1)` (phase `2 r phi`, shifted by pi at even r).
    - `layer="theta"`: `-dL/dtheta[i] ~ |sin A| cos(A - D)` with `A = w i + phi`. Expanding
      `|sin A| = 2/pi - (4/pi) sum_n cos(2 n A) / (4 n^2 - 1)` gives only odd harmonics:
      for odd `r >= 1` the component is
      `-(2/pi) [cos(r A - D) / (r (r - 2)) + cos(r A + D) / (r (r + 2))]`, of magnitude
      `c_r(D) = (2/pi) |e^{-iD} / (r (r - 2)) + e^{iD} / (r (r + 2))|`, so the ratio is
      `c_r(D) / c_1(D)`, zero at even r. Aligned (`D = 0`): `3 / |r^2 - 4|` (1, 3/5, 1/7,
      1/15, ...), decaying like `3 / r^2`; at `D = pi/2` it decays like `3 / r^3`.

    **Arguments:**

    - `r`: harmonic order(s), concrete integers >= 1 (checked with NumPy, so `r` cannot be
      traced; `D` can).
    - `layer`: `"xi"` (output layer) or `"theta"` (input layer).
    - `D`: the neuron's phase difference `2 phi - psi` (used by `"theta"` only).

    **Returns:**

    The ratio(s), shape `broadcast(r, D).shape`.
    """
    check_choice(layer, "layer", ("xi", "theta"))
    r_np = np.asarray(r)
    if not np.issubdtype(r_np.dtype, np.integer) or np.any(r_np < 1):
        raise ValueError(f"`r` must be integers >= 1; got r={r!r}.")
    # Explicit broadcasting: the package runs under jax_numpy_rank_promotion="raise".
    r, D = jnp.broadcast_arrays(jnp.asarray(r_np, dtype=float), jnp.asarray(D, dtype=float))
    odd = jnp.broadcast_to(jnp.asarray(r_np % 2 == 1), r.shape)
    if layer == "xi":
        return 3.0 / (4.0 * r**2 - 1.0)

    def c(r):
        # r (r - 2) = -1 at r = 1: the formula covers the fundamental too.
        return jnp.abs(jnp.exp(-1j * D) / (r * (r - 2)) + jnp.exp(1j * D) / (r * (r + 2)))

    return jnp.where(odd, c(r) / c(jnp.ones_like(r)), 0.0)


def leakage_ratios(
    spectrum: Float[ArrayLike, "*batch K"], k_star: int, r_max: int | None = None
) -> Float[Array, "*batch r"]:
    """Measured ratios `magnitude[r k*] / magnitude[k*]` for `r = 1..r_max`.

    **Arguments:**

    - `spectrum`: magnitudes per frequency (e.g. `gradient_spectrum(net)["beta"]`), last axis
      of length K; `p = 2K + 1`.
    - `k_star`: the feature frequency in 1..K.
    - `r_max`: the largest harmonic order (default K).

    **Returns:**

    Array of shape `spectrum.shape[:-1] + (r_max,)`; entry `r - 1` is the ratio at `r k*`.
    """
    spectrum = jnp.asarray(spectrum)
    K = spectrum.shape[-1]
    p = 2 * K + 1
    r_max = K if r_max is None else check_positive_int(r_max, "r_max")
    ks = np.array([(r * k_star) % p for r in range(1, r_max + 1)])
    ks = np.minimum(ks, p - ks)
    if np.any(ks == 0):
        raise ValueError(f"`r_max`={r_max} reaches a multiple of p={p}; take r_max < p / k*.")
    return spectrum[..., ks - 1] / spectrum[..., k_star - 1 : k_star]
