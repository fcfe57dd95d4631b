"""Activations by name (theory eqs. (3)-(4)): the network stores a name or any callable."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable] = {
    "relu": jax.nn.relu,
    "quad": lambda z: z**2,
    "abs": jnp.abs,
    "quartic": lambda z: z**4,
    "softplus": jax.nn.softplus,
    "exp": jnp.exp,
    "identity": lambda z: z,
    "cube": lambda z: z**3,
}


def get_activation(activation: str | Callable) -> Callable:
    """Resolve an activation name (one of `ACTIVATIONS`) or return a callable unchanged.

    **Arguments:**

    - `activation`: a name in `relu, quad, abs, quartic, softplus, exp, identity, cube`, or a
      callable acting elementwise on arrays.

    **Returns:**

    The elementwise function.
    """
    if callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"`activation` must be a callable or one of {tuple(ACTIVATIONS)}; "
            f"got activation={activation!r}."
        )
    return ACTIVATIONS[activation]
