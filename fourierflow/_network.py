"""The two-layer network and its cross-entropy loss (theory eqs. (3)-(6))."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from ._activations import get_activation
from ._checks import check_indices, check_reduction
from ._data import FoldedPairs
from ._types import Array, ArrayLike, Float, Int, Reduction


class TwoLayerNet(eqx.Module):
    """Two-layer network without biases for modular addition (theory eqs. (3)-(4)).

    One-hot input: `u_m(x, y) = theta_m[x] + theta_m[y]`; with an embedding `E` (d x p):
    `u_m = <E[:, x] + E[:, y], theta_m>`. Logits `f(x, y)[j] = sum_m xi_m[j] act(u_m(x, y))`.

    `theta` and `xi` may carry leading batch axes (e.g. the time axis of a solve); `logits` and
    `loss` act on an unbatched network (vmap over it otherwise).

    **Fields:**

    - `theta`: `(M, p)` input weights (`(M, d)` with an embedding); row m is neuron m.
    - `xi`: `(M, p)` output weights.
    - `activation`: a name of `fourierflow.ACTIVATIONS` or a callable (static).
    - `embedding`: `None` for one-hot input, else the `(d, p)` embedding matrix `E`.
    """

    theta: Float[Array, "*batch M p_or_d"]
    xi: Float[Array, "*batch M p"]
    activation: str | Callable = eqx.field(static=True, default="quad")
    embedding: Float[Array, "*batch d p"] | None = None

    def __check_init__(self):
        get_activation(self.activation)
        if self.xi.ndim < 2 or self.theta.ndim != self.xi.ndim:
            raise ValueError(
                f"`theta` and `xi` must be arrays of shape (..., M, p) with equal rank; got "
                f"theta.shape={self.theta.shape}, xi.shape={self.xi.shape}."
            )
        if self.theta.shape[:-1] != self.xi.shape[:-1]:
            raise ValueError(
                f"`theta` and `xi` must have the same neurons (shape[:-1]); got "
                f"theta.shape={self.theta.shape}, xi.shape={self.xi.shape}."
            )
        d_in = self.theta.shape[-1] if self.embedding is None else self.embedding.shape[-1]
        if self.embedding is not None and self.embedding.shape[-2] != self.theta.shape[-1]:
            raise ValueError(
                f"`embedding` must have shape (d, p) with d = theta.shape[-1]; got "
                f"embedding.shape={self.embedding.shape}, theta.shape={self.theta.shape}."
            )
        if d_in != self.xi.shape[-1]:
            raise ValueError(
                f"the input size p ({d_in}) must equal xi.shape[-1] ({self.xi.shape[-1]})."
            )
        p = self.xi.shape[-1]
        if p < 3 or p % 2 == 0:
            raise ValueError(f"the modulus p = xi.shape[-1] must be an odd integer >= 3; got {p}.")

    @property
    def p(self) -> int:
        """The modulus p (number of classes)."""
        return self.xi.shape[-1]

    @property
    def width(self) -> int:
        """The number of neurons M."""
        return self.xi.shape[-2]

    def with_activation(self, activation: str | Callable) -> "TwoLayerNet":
        """The same weights with another activation (paper Table 1's activation swap)."""
        return TwoLayerNet(self.theta, self.xi, activation, self.embedding)

    def preactivations(
        self, x: Int[ArrayLike, "*n"], y: Int[ArrayLike, "*n"]
    ) -> Float[Array, "*n M"]:
        """`u_m(x, y)` for every neuron, shape `x.shape + (M,)`."""
        x, y = check_indices(x, "x", self.p), check_indices(y, "y", self.p)
        rows = self.theta.T if self.embedding is None else self.embedding.T @ self.theta.T
        return rows[x] + rows[y]

    def logits(self, x: Int[ArrayLike, "*n"], y: Int[ArrayLike, "*n"]) -> Float[Array, "*n p"]:
        """Logits `f(x, y)` of shape `x.shape + (p,)`.

        One `(n, M)` activation matrix times `xi`: no `(n, M, p)` tensor is formed.
        """
        act = get_activation(self.activation)
        return act(self.preactivations(x, y)) @ self.xi


def loss(
    net: TwoLayerNet,
    x: Int[ArrayLike, " n"],
    y: Int[ArrayLike, " n"],
    reduction: Reduction = "sum",
) -> Float[Array, ""]:
    """Cross-entropy of `softmax(f(x, y))` against `z = (x + y) mod p` (theory eqs. (5)-(6)).

    **Arguments:**

    - `net`: the network (unbatched).
    - `x`, `y`: integer arrays of inputs in Z_p, same shape.
    - `reduction`: `"sum"` over examples (the theory's convention) or `"mean"`.

    **Returns:**

    The scalar loss.
    """
    check_reduction(reduction)
    x, y = jnp.asarray(x), jnp.asarray(y)
    f = net.logits(x, y)
    z = (x + y) % net.p
    nll = jax.nn.logsumexp(f, axis=-1) - jnp.take_along_axis(f, z[..., None], axis=-1)[..., 0]
    return jnp.sum(nll) if reduction == "sum" else jnp.mean(nll)


def accuracy(
    net: TwoLayerNet, x: Int[ArrayLike, " n"], y: Int[ArrayLike, " n"]
) -> Float[Array, ""]:
    """Fraction of pairs whose largest logit is `(x + y) mod p`.

    **Arguments:**

    - `net`: the network (unbatched); `x`, `y`: integer arrays of inputs in Z_p.

    **Returns:**

    The scalar accuracy in [0, 1].
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    return jnp.mean(jnp.argmax(net.logits(x, y), axis=-1) == (x + y) % net.p)


def folded_loss(
    net: TwoLayerNet, pairs: FoldedPairs, reduction: Reduction = "sum"
) -> Float[Array, ""]:
    """`loss` over a split's train pairs, computed on the folded `x <= y` half (theory eq. (5)).

    Equal to `loss(net, *split.pairs(split.train), reduction)` up to rounding, at about half the
    cost; `train` and the exact gradient flow use it.

    **Arguments:**

    - `net`: the network (unbatched).
    - `pairs`: a `FoldedPairs` from `fourierflow.fold_pairs(split)`.
    - `reduction`: `"sum"` or `"mean"` over the train pairs.

    **Returns:**

    The scalar loss.
    """
    check_reduction(reduction)
    rows = net.theta if net.embedding is None else net.theta @ net.embedding  # (M, p)
    h = get_activation(net.activation)(rows @ pairs.incidence.T)  # (M, n), neuron-major
    f = net.xi.T @ h  # (p, n)
    nll = jax.nn.logsumexp(f, axis=0) - f[pairs.z, jnp.arange(pairs.z.shape[0])]
    weight = pairs.count if reduction == "sum" else pairs.count / jnp.sum(pairs.count)
    return jnp.sum(weight * nll)
