"""The modular-addition data set, seeded splits and symmetry classes (SPEC section 1)."""

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ._checks import check_modulus
from ._types import Array, Bool, Int


def all_pairs(p: int) -> tuple[Int[Array, " n"], Int[Array, " n"]]:
    """All `p^2` pairs of Z_p x Z_p (SPEC section 1).

    **Arguments:**

    - `p`: the modulus (odd, >= 3).

    **Returns:**

    `(x, y)`, integer arrays of shape `(p^2,)` in row-major order (`x` slow, `y` fast).
    """
    p = check_modulus(p)
    x, y = jnp.divmod(jnp.arange(p * p), p)
    return x, y


class Split(eqx.Module):
    """A train/test split of Z_p x Z_p held as a `(p, p)` boolean grid `train[x, y]`.

    The mirror of a pair is the transpose, so the symmetry classes of SPEC section 1 are
    elementwise: *common* `train & train.T` (the diagonal counts as common), *rare*
    `train & ~train.T`, *mirror-covered* `~train & train.T`, *unseen* `~train & ~train.T`.
    """

    train: Bool[Array, "p p"]

    @property
    def p(self) -> int:
        return self.train.shape[-1]

    @property
    def test(self) -> Bool[Array, "p p"]:
        return ~self.train

    @property
    def common(self) -> Bool[Array, "p p"]:
        return self.train & self.train.T

    @property
    def rare(self) -> Bool[Array, "p p"]:
        return self.train & ~self.train.T

    @property
    def mirror_covered(self) -> Bool[Array, "p p"]:
        return ~self.train & self.train.T

    @property
    def unseen(self) -> Bool[Array, "p p"]:
        return ~self.train & ~self.train.T

    def pairs(
        self, mask: Bool[Array, "p p"]
    ) -> tuple[Int[np.ndarray, " n"], Int[np.ndarray, " n"]]:
        """The `(x, y)` pairs where `mask` is true (concrete NumPy arrays, row-major order)."""
        x, y = np.nonzero(np.asarray(mask))
        return x, y


def random_split(key, p: int, train_fraction: float) -> Split:
    """A seeded random split with `round(train_fraction * p^2)` training pairs.

    **Arguments:**

    - `key`: a `jax.random` key.
    - `p`: the modulus (odd, >= 3).
    - `train_fraction`: in (0, 1]; 1 means full data (every pair in train).

    **Returns:**

    A `Split`.
    """
    p = check_modulus(p)
    if not 0.0 < float(train_fraction) <= 1.0:
        raise ValueError(
            f"`train_fraction` must lie in (0, 1]; got train_fraction={train_fraction!r}."
        )
    n_train = max(1, int(round(float(train_fraction) * p * p)))
    order = jr.permutation(key, p * p)
    train = jnp.zeros(p * p, bool).at[order[:n_train]].set(True)
    return Split(train.reshape(p, p))


def full_split(p: int) -> Split:
    """The split with every pair in train (full data).

    **Arguments:**

    - `p`: the modulus (odd, >= 3).

    **Returns:**

    A `Split`.
    """
    p = check_modulus(p)
    return Split(jnp.ones((p, p), bool))
