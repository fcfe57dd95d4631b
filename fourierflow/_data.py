"""The modular-addition data set, seeded splits and symmetry classes (theory eqs. (1)-(2))."""

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ._checks import check_modulus
from ._types import Array, Bool, Float, Int


def all_pairs(p: int) -> tuple[Int[Array, " n"], Int[Array, " n"]]:
    """All `p^2` pairs of Z_p x Z_p (theory eqs. (1)-(2)).

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

    The mirror of a pair is the transpose, so the symmetry classes of theory eqs. (1)-(2) are
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


def symmetric_pairs(split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The train pairs folded by the exchange symmetry `(x, y) ~ (y, x)`.

    **Arguments:**

    - `split`: a `fourierflow.Split`.

    **Returns:**

    `(x, y, count)`: the pairs with `x <= y` having at least one of `(x, y), (y, x)` in train,
    and how many of the two are (1 on the diagonal). `sum(count)` is the number of train pairs.
    """
    train = np.asarray(split.train)
    xs, ys = np.triu_indices(split.p)
    count = train[xs, ys].astype(int) + np.where(xs == ys, 0, train[ys, xs].astype(int))
    keep = count > 0
    return xs[keep], ys[keep], count[keep]


class FoldedPairs(eqx.Module):
    """The train pairs of a split folded by `(x, y) ~ (y, x)`, ready for `folded_loss`.

    The logits are symmetric in `(x, y)`, so the loss over all train pairs is a weighted sum
    over the `x <= y` half: about half the work (p(p+1)/2 instead of p^2 pairs on full data).

    **Fields:**

    - `incidence`: `(n, p)` with `S[i, a] = 1[x_i = a] + 1[y_i = a]` (dense: its matmul's
      backward pass is a matmul, where an indexed gather needs a scatter-add, ~2x slower on CPU).
    - `z`: `(n,)` labels `(x_i + y_i) mod p`.
    - `count`: `(n,)` how many of `(x_i, y_i)`, `(y_i, x_i)` are in train (its sum: the number
      of train pairs).
    """

    incidence: Float[Array, "n p"]
    z: Int[Array, " n"]
    count: Float[Array, " n"]


def fold_pairs(split: Split, dtype=None) -> FoldedPairs:
    """Fold the train pairs of `split` (see `FoldedPairs`).

    **Arguments:**

    - `split`: a `fourierflow.Split` (`full_split(p)` for full data).
    - `dtype`: the float dtype of `incidence` and `count` (default: JAX's default float).

    **Returns:**

    A `FoldedPairs`.
    """
    xs, ys, count = symmetric_pairs(split)
    p = split.p
    incidence = np.zeros((len(xs), p))
    np.add.at(incidence, (np.arange(len(xs)), xs), 1.0)
    np.add.at(incidence, (np.arange(len(xs)), ys), 1.0)
    dtype = dtype or jnp.asarray(0.0).dtype
    return FoldedPairs(
        jnp.asarray(incidence, dtype), jnp.asarray((xs + ys) % p), jnp.asarray(count, dtype)
    )
