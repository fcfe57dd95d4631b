"""The exact gradient flow and the main flow as Diffrax vector fields on a `TwoLayerNet`.

The exact flow is `-grad L - lambda * params` for any activation, reduction and data (theory:
exact gradient flow); the main flow replaces the softmax by the uniform distribution (Lemma
B.3 / B.39), which decouples neurons and frequencies. Both are plain functions
`f(t, net, args)` with a `FlowArgs`; `solve_exact` and `solve_main` integrate them.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

from ._checks import check_nonnegative, check_reduction
from ._data import FoldedPairs, Split, fold_pairs
from ._network import TwoLayerNet, folded_loss
from ._types import Array, ArrayLike, Float, Reduction

__all__ = ["FlowArgs", "exact_vector_field", "flow_args", "main_flow_vector_field"]


class FlowArgs(eqx.Module):
    """The `args` of `exact_vector_field` and `main_flow_vector_field`.

    **Fields:**

    - `pairs`: the training pairs folded by `(x, y) ~ (y, x)` (`fourierflow.fold_pairs`); unused
      by the main flow, which is defined on full data only.
    - `weight_decay`: `lambda >= 0`; the flow gains `-lambda * params`.
    - `reduction`: `"sum"` or `"mean"` (static).
    """

    pairs: FoldedPairs
    weight_decay: Float[Array, ""]
    reduction: str = eqx.field(static=True, default="sum")


def flow_args(
    p: int,
    *,
    reduction: Reduction = "sum",
    split: Split | None = None,
    weight_decay: float = 0.0,
) -> FlowArgs:
    """Build the `FlowArgs` of the flow on full data (`split=None`) or on `split.train`.

    **Arguments:**

    - `p`: the modulus.
    - `reduction`: `"sum"` (the theory's time) or `"mean"`.
    - `split`: a `fourierflow.Split` of the same `p`, or `None` for all `p^2` pairs.
    - `weight_decay`: `lambda >= 0`.

    **Returns:**

    A `FlowArgs`.
    """
    check_reduction(reduction)
    check_nonnegative(weight_decay, "weight_decay")
    if split is None:  # NumPy, not jnp: flow_args may run under jit, the fold needs values
        split = Split(np.ones((p, p), bool))
    else:
        if not isinstance(split, Split):
            raise TypeError(f"`split` must be a fourierflow.Split or None; got {type(split)}.")
        if split.p != p:
            raise ValueError(f"`split` must be a split of Z_{p}; got a split with p={split.p}.")
        if not np.any(np.asarray(split.train)):
            raise ValueError("`split` must have at least one training pair; got none.")
    return FlowArgs(fold_pairs(split), jnp.asarray(weight_decay, dtype=float), reduction)


def exact_vector_field(t: Float[ArrayLike, ""], y: TwoLayerNet, args: FlowArgs) -> TwoLayerNet:
    """The exact gradient flow `d(theta, xi)/dt = -grad L(theta, xi) - lambda (theta, xi)`
    (theory eq. (18)).

    Any activation, either reduction, full or partial data (the pairs in `args`). The gradient
    is `jax.grad` of `fourierflow.folded_loss` (= `loss` on the train pairs, folded by the
    exchange symmetry: half the work); a trainable embedding, if present, flows too.

    **Arguments:**

    - `t`: time (unused: the flow is autonomous).
    - `y`: the current network (unbatched).
    - `args`: a `FlowArgs` (see `flow_args`).

    **Returns:**

    The velocity, as a `TwoLayerNet` with the same structure as `y`.
    """
    del t
    grads = jax.grad(folded_loss)(y, args.pairs, args.reduction)
    return jtu.tree_map(lambda g, w: -g - args.weight_decay * w, grads, y)


def _main_flow_rates(theta, xi, reduction):
    # theory eq. (21) as circular correlations: with S = sum(theta), summing the linearised loss
    # sum_{x,y} [-f_z + mean_j f_j] over Z_p exactly gives
    #   dtheta[i] = 4 (sum_y xi[i + y] theta[y] - mean(xi) S),
    #   dxi[j]    = 2 (sum_x theta[x] theta[j - x] - S^2 / p),
    # and in the Fourier basis these are 2p alpha_k beta_k cos(w_k j + psi_k - phi_k) and
    # p alpha_k^2 cos(w_k j + 2 phi_k); dropping the DC bin of the products is exactly the
    # subtraction of the means. One rfft per layer instead of a loop over frequencies.
    p = theta.shape[-1]
    F_theta = jnp.fft.rfft(theta, axis=-1)
    F_xi = jnp.fft.rfft(xi, axis=-1)
    nonzero = jnp.arange(F_theta.shape[-1]).reshape((1,) * (F_theta.ndim - 1) + (-1,)) > 0
    dtheta = 4 * jnp.fft.irfft(jnp.where(nonzero, F_xi * jnp.conj(F_theta), 0), n=p, axis=-1)
    dxi = 2 * jnp.fft.irfft(jnp.where(nonzero, F_theta**2, 0), n=p, axis=-1)
    if reduction == "mean":
        dtheta, dxi = dtheta / p**2, dxi / p**2
    return dtheta, dxi


def main_flow_vector_field(t: Float[ArrayLike, ""], y: TwoLayerNet, args: FlowArgs) -> TwoLayerNet:
    """The main flow of theory eq. (21) (Lemma B.3 / B.39) in weight space.

    `d theta_m[j]/dt = 2p sum_k alpha_k beta_k cos(w_k j + psi_k - phi_k)`,
    `d xi_m[j]/dt = p sum_k alpha_k^2 cos(w_k j + 2 phi_k)` (rates divided by `p^2` for
    `"mean"`), minus `lambda * params` with weight decay. This is the gradient flow of the
    quadratic network with the softmax replaced by the uniform distribution, on full data.
    Neurons and frequencies are decoupled and the DC components stay constant.

    **Arguments:**

    - `t`: time (unused).
    - `y`: the current network (unbatched, `activation="quad"`, no embedding).
    - `args`: a `FlowArgs`; only `reduction` and `weight_decay` are used.

    **Returns:**

    The velocity, as a `TwoLayerNet`.
    """
    del t
    dtheta, dxi = _main_flow_rates(y.theta, y.xi, args.reduction)
    return TwoLayerNet(
        dtheta - args.weight_decay * y.theta, dxi - args.weight_decay * y.xi, y.activation
    )
