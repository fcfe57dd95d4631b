import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np


def tree_allclose(x, y, *, rtol=1e-5, atol=1e-8):
    """Whether two pytrees have the same structure and allclose leaves."""
    if jtu.tree_structure(x) != jtu.tree_structure(y):
        return False
    return all(
        np.shape(a) == np.shape(b) and bool(jnp.allclose(a, b, rtol=rtol, atol=atol))
        for a, b in zip(jtu.tree_leaves(x), jtu.tree_leaves(y), strict=True)
    )
