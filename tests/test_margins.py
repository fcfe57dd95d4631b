"""Prop 4.2 logits and margins of diversified networks, and the cancellation-free
cross-entropy used for Table 2 (theory eqs. (42)-(43))."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fourierflow as ff

P = 23
COUNTS = [12] * 7 + [11] * 4  # Table 2: width 128 over the 11 frequencies


def _labels(p):
    x, y = ff.all_pairs(p)
    return x, y, (x + y) % p


def test_closed_form_logits_match_the_network():
    x, y, _ = _labels(P)
    net = ff.diversified(P, COUNTS, 1.0)
    np.testing.assert_allclose(
        net.logits(x, y), ff.diversified_logits(P, COUNTS, 1.0, x, y), atol=1e-11
    )
    # A frequency subset and another a.
    freqs = [2, 5, 9]
    net = ff.diversified(P, 7, 0.3, freqs=freqs)
    np.testing.assert_allclose(
        net.logits(x, y), ff.diversified_logits(P, 7, 0.3, x, y, freqs=freqs), atol=1e-12
    )


@pytest.mark.parametrize("p, N, a", [(23, 12, 1.0), (13, 3, 0.5)])
def test_prop_4_2_exact_logits_and_margin(p, N, a):
    x, y, z = _labels(p)
    f = ff.diversified(p, N, a).logits(x, y)
    j = jnp.arange(p)
    ind = lambda m: (m[:, None] % p == j[None, :]).astype(float)  # noqa: E731
    closed = (a * N / 2) * (-1 + (p / 2) * ind(x + y) + (p / 4) * (ind(2 * x) + ind(2 * y)))
    np.testing.assert_allclose(f, closed, atol=1e-11)
    margin = ff.logit_margin(f, z)
    expected = jnp.where(x == y, a * N * p / 2, a * N * p / 8)
    np.testing.assert_allclose(margin, expected, rtol=1e-12)


def test_group_logits_sum_to_the_network():
    x, y, _ = _labels(P)
    net = ff.diversified(P, COUNTS, 1.0)
    groups = np.repeat(np.arange(11), COUNTS)
    F = ff.group_logits(net, groups, 11, x, y)
    assert F.shape == (11, P * P, P)
    np.testing.assert_allclose(F.sum(0), net.logits(x, y), atol=1e-11)
    # Each group is a single-frequency diversified network.
    np.testing.assert_allclose(F[3], ff.diversified_logits(P, 12, 1.0, x, y, freqs=[4]), atol=1e-11)


def test_table2_full_set_loss_two_ways():
    x, y, z = _labels(P)
    f = ff.diversified(P, COUNTS, 1.0).logits(x, y)
    accurate = float(ff.cross_entropy(f, z, "mean"))
    naive = float(ff.cross_entropy(f, z, "mean", method="logsumexp"))
    assert naive == pytest.approx(float(ff.loss(ff.diversified(P, COUNTS, 1.0), x, y, "mean")))
    # Independent reference: the closed-form logits' gaps, sum of exp (log1p(s) = s (1 - s/2)
    # and s ~ 1e-14, so the sum is the loss to 1e-14 relative).
    g = ff.diversified_logits(P, COUNTS, 1.0, x, y)
    g = g - jnp.take_along_axis(g, z[:, None], axis=-1)
    s = jnp.sum(jnp.where(jnp.arange(P)[None, :] == z[:, None], 0.0, jnp.exp(g)), axis=-1)
    reference = float(jnp.mean(s))
    assert accurate == pytest.approx(reference, rel=1e-10)
    # The usual formula is rounding noise at this size (paper: 7.41e-15 vs 5.93e-15 here).
    assert abs(naive - reference) > 0.1 * reference
    assert 5e-15 < reference < 7e-15


@pytest.mark.parametrize("c", [0.8, 1.2])
def test_both_losses_agree_where_both_are_accurate(c):
    x, y, z = _labels(P)
    f = ff.diversified(P, COUNTS, 1.0, phase_span=c * math.pi).logits(x, y)
    accurate = ff.cross_entropy(f, z, "mean")
    naive = ff.cross_entropy(f, z, "mean", method="logsumexp")
    # The naive absolute error is ~ eps |f| ~ 1e-14, so relative 1e-12 .. 1e-4 here.
    np.testing.assert_allclose(naive, accurate, rtol=1e-4 if c == 1.2 else 1e-10)


def test_cross_entropy_extremes_and_reductions():
    f = jnp.array([[1000.0, 0.0, -5.0], [0.0, 0.0, 0.0]])
    z = jnp.array([1, 2])
    per = jnp.array([1000.0 + math.log1p(math.exp(-1000) + math.exp(-1005)), math.log(3)])
    np.testing.assert_allclose(ff.cross_entropy(f, z, "sum"), per.sum(), rtol=1e-14)
    np.testing.assert_allclose(ff.cross_entropy(f, z, "mean"), per.mean(), rtol=1e-14)
    np.testing.assert_allclose(
        ff.cross_entropy(jnp.array([[0.0, -700.0, -701.0]]), jnp.array([0])),
        math.exp(-700) * (1 + math.exp(-1)),
        rtol=1e-13,
    )


def test_jit_vmap():
    x, y, z = _labels(11)
    f = ff.diversified(11, 3, 1.0).logits(x, y)
    batch = jnp.stack([f, 2 * f])
    ce = jax.jit(jax.vmap(lambda g: ff.cross_entropy(g, z, "mean")))(batch)
    np.testing.assert_allclose(ce[0], ff.cross_entropy(f, z, "mean"), rtol=1e-12)
    assert ce[1] < ce[0]
    np.testing.assert_allclose(jax.jit(ff.logit_margin)(f, z), ff.logit_margin(f, z), rtol=1e-12)


def test_bad_input():
    x, y, z = _labels(11)
    with pytest.raises(ValueError, match="n_per_freq"):
        ff.diversified_logits(11, 4, 1.0, x, y)
    with pytest.raises(ValueError, match="method"):
        ff.cross_entropy(jnp.zeros((2, 3)), jnp.zeros(2, int), method="naive")
    with pytest.raises(ValueError, match="reduction"):
        ff.cross_entropy(jnp.zeros((2, 3)), jnp.zeros(2, int), "max")
