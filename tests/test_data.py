import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import fourierflow as ff


def test_all_pairs():
    x, y = ff.all_pairs(5)
    assert x.shape == (25,)
    assert set(zip(np.asarray(x).tolist(), np.asarray(y).tolist(), strict=True)) == {
        (a, b) for a in range(5) for b in range(5)
    }


@pytest.mark.parametrize("fraction", [0.3, 0.75, 1.0])
def test_random_split_size_and_seed(fraction):
    p = 11
    s1 = ff.random_split(jr.key(3), p, fraction)
    s2 = ff.random_split(jr.key(3), p, fraction)
    s3 = ff.random_split(jr.key(4), p, fraction)
    assert int(s1.train.sum()) == round(fraction * p * p)
    assert jnp.array_equal(s1.train, s2.train)
    if fraction < 1:
        assert not jnp.array_equal(s1.train, s3.train)


def test_symmetry_classes_partition_and_definitions():
    p = 13
    split = ff.random_split(jr.key(1), p, 0.6)
    train = np.asarray(split.train)
    classes = [split.common, split.rare, split.mirror_covered, split.unseen]
    total = sum(np.asarray(c).astype(int) for c in classes)
    assert np.all(total == 1)
    for x in range(p):
        for y in range(p):
            if train[x, y]:
                assert bool(split.common[x, y]) == bool(train[y, x])  # diagonal: common
            else:
                assert bool(split.mirror_covered[x, y]) == bool(train[y, x])
    assert np.all(np.asarray(split.common).diagonal()[train.diagonal()])
    xs, ys = split.pairs(split.train)
    assert len(xs) == train.sum() and np.all(train[xs, ys])


def test_full_split():
    split = ff.full_split(7)
    assert bool(split.train.all()) and not bool(split.rare.any()) and not bool(split.unseen.any())
