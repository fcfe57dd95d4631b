"""Logit margins of constructed networks and a cross-entropy free of cancellation error
(paper Prop 4.2 / eq. 4.2, Table 2; theory eqs. (42)-(43)).

A well-separated network has cross-entropies near 1e-15, where `logsumexp(f) - f[z]` (two
numbers of size |f| ~ 30 subtracted) is pure rounding noise. Written with the logit gaps
`g_j = f_j - f_z`, the loss is `log(1 + sum_{j != z} exp(g_j))`, which `log1p` evaluates to full
relative precision.
"""

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from ._activations import get_activation
from ._checks import (
    check_choice,
    check_indices,
    check_modulus,
    check_positive,
    check_reduction,
)
from ._fourier import num_frequencies
from ._network import TwoLayerNet
from ._types import Array, ArrayLike, Float, Int, Reduction


def _gaps(logits, z):
    """Gaps `f_j - f_z` with the correct class set to -inf (it is the `1 +` of the log1p)."""
    f_z = jnp.take_along_axis(logits, z[..., None], axis=-1)
    correct = jnp.arange(logits.shape[-1]).reshape((1,) * z.ndim + (-1,)) == z[..., None]
    return jnp.where(correct, -jnp.inf, logits - f_z)


def cross_entropy(
    logits: Float[ArrayLike, "*n p"],
    z: Int[ArrayLike, "*n"],
    reduction: Reduction = "sum",
    *,
    method: Literal["log1p", "logsumexp"] = "log1p",
) -> Float[Array, ""]:
    """Cross-entropy of `softmax(logits)` against the labels `z` (theory eqs. (5)-(6)).

    **Arguments:**

    - `logits`: array whose last axis has length p.
    - `z`: integer labels in 0..p-1, shape `logits.shape[:-1]`.
    - `reduction`: `"sum"` or `"mean"` over all leading axes.
    - `method`: `"log1p"` computes `log1p(sum_{j != z} exp(f_j - f_z))` as
      `logaddexp(0, logsumexp_{j != z}(f_j - f_z))`, accurate to a few ulps relative even when
      the loss is ~1e-300; `"logsumexp"` is the usual `logsumexp(f) - f_z` (as
      `fourierflow.loss`), whose absolute error is ~`eps * |f|`.

    **Returns:**

    The scalar loss.
    """
    check_reduction(reduction)
    check_choice(method, "method", ("log1p", "logsumexp"))
    logits = jnp.asarray(logits)
    z = check_indices(z, "z", logits.shape[-1])
    if method == "log1p":
        # logaddexp(0, s) = log1p(exp(s)) for s < 0: no cancellation.
        nll = jnp.logaddexp(0.0, jax.nn.logsumexp(_gaps(logits, z), axis=-1))
    else:
        f_z = jnp.take_along_axis(logits, z[..., None], axis=-1)[..., 0]
        nll = jax.nn.logsumexp(logits, axis=-1) - f_z
    return jnp.sum(nll) if reduction == "sum" else jnp.mean(nll)


def logit_margin(logits: Float[ArrayLike, "*n p"], z: Int[ArrayLike, "*n"]) -> Float[Array, "*n"]:
    """`f_z - max_{j != z} f_j` per example (positive = correctly classified).

    **Arguments:**

    - `logits`: array whose last axis has length p; `z`: labels, shape `logits.shape[:-1]`.

    **Returns:**

    The margins, shape `z.shape`.
    """
    logits = jnp.asarray(logits)
    z = check_indices(z, "z", logits.shape[-1])
    return -jnp.max(_gaps(logits, z), axis=-1)


def group_logits(
    net: TwoLayerNet,
    groups: Int[ArrayLike, " M"],
    num_groups: int,
    x: Int[ArrayLike, " n"],
    y: Int[ArrayLike, " n"],
) -> Float[Array, "G n p"]:
    """The logits contributed by each group of neurons: `F_g = sum_{m in g} xi_m act(u_m)`.

    The network restricted to any union of groups has logits `sum_g mask_g F_g`, so all
    subsets of an ablation are one matrix product (paper Table 2, Part I).

    **Arguments:**

    - `net`: an unbatched `TwoLayerNet`.
    - `groups`: the group of each neuron, integers in 0..num_groups-1.
    - `num_groups`: the number of groups G (static).
    - `x`, `y`: integer inputs, shape `(n,)`.

    **Returns:**

    Array of shape `(G, n, p)` summing over groups to `net.logits(x, y)`.
    """
    act = get_activation(net.activation)(net.preactivations(x, y))  # (n, M)
    onehot = jax.nn.one_hot(jnp.asarray(groups), num_groups, dtype=act.dtype)  # (M, G)
    return jnp.einsum("nm,mg,mj->gnj", act, onehot, net.xi)


def diversified_logits(
    p: int,
    n_per_freq: int | Float[ArrayLike, " F"],
    a: float,
    x: Int[ArrayLike, " n"],
    y: Int[ArrayLike, " n"],
    *,
    freqs=None,
) -> Float[Array, "n p"]:
    """Closed-form logits of a `diversified` quadratic network (Prop 4.2, eq. 4.2).

    Summing `beta cos(w_k j + 2 phi) alpha^2 (cos(w_k x + phi) + cos(w_k y + phi))^2` over `N`
    equispaced phases kills every term with `e^{2 i phi}` or `e^{4 i phi}` (needs `N` not in
    {1, 2, 4}) and leaves, per frequency,
    `a N_k [(1/4)(cos w_k(2x - j) + cos w_k(2y - j)) + (1/2) cos w_k(x + y - j)]`. With all
    frequencies and equal `N` this is `(aN/2)(-1 + (p/2) 1[x+y=j] + (p/4)(1[2x=j] + 1[2y=j]))`
    (theory eqs. (42)-(43)), whose correct logit beats every other by `aNp/8` (`aNp/2` when x = y).

    **Arguments:**

    - `p`: modulus; `n_per_freq`: neurons per frequency (int, or one per entry of `freqs`),
      each not in {1, 2, 4}; `a`: `alpha^2 beta` (> 0).
    - `x`, `y`: integer inputs, shape `(n,)`.
    - `freqs`: the frequencies used (default all of 1..K).

    **Returns:**

    The `(n, p)` logits.
    """
    p = check_modulus(p)
    check_positive(a, "a")
    K = num_frequencies(p)
    freqs = np.arange(1, K + 1) if freqs is None else np.asarray(freqs, dtype=int)
    N = np.broadcast_to(np.asarray(n_per_freq), freqs.shape)
    if np.any(np.isin(N, (1, 2, 4))):
        raise ValueError(
            f"`n_per_freq` must avoid {{1, 2, 4}} for the 2phi and 4phi harmonics to cancel "
            f"(Prop 4.2); got n_per_freq={n_per_freq!r}."
        )
    x, y = jnp.asarray(x)[:, None, None], jnp.asarray(y)[:, None, None]
    j = jnp.arange(p)[None, :, None]
    w = jnp.asarray(2 * np.pi * freqs / p)[None, None, :]

    # Reduce the integer arguments mod p first: cos of small arguments keeps full accuracy.
    def c(m):
        return jnp.cos(w * (m % p))

    per_freq = 0.25 * (c(2 * x - j) + c(2 * y - j)) + 0.5 * c(x + y - j)
    return a * jnp.sum(jnp.asarray(N, dtype=float)[None, None, :] * per_freq, axis=-1)
