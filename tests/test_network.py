import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import fourierflow as ff

NUMPY_ACTS = {
    "relu": lambda z: np.maximum(z, 0),
    "quad": lambda z: z**2,
    "abs": np.abs,
    "quartic": lambda z: z**4,
    "softplus": lambda z: np.log1p(np.exp(z)),
    "exp": np.exp,
    "identity": lambda z: z,
    "cube": lambda z: z**3,
}


def naive_logits(theta, xi, act, p, E=None):
    theta, xi = np.asarray(theta), np.asarray(xi)
    out = np.zeros((p, p, p))
    for x, y in itertools.product(range(p), range(p)):
        for m in range(theta.shape[0]):
            u = theta[m, x] + theta[m, y] if E is None else (E[:, x] + E[:, y]) @ theta[m]
            for j in range(p):
                out[x, y, j] += xi[m, j] * act(u)
    return out


@pytest.mark.parametrize("name", sorted(NUMPY_ACTS))
def test_logits_match_naive_loop(name, getkey):
    p, M = 5, 3
    net = ff.init_gaussian(getkey(), p, M, scale=1.0, activation=name)
    x, y = ff.all_pairs(p)
    f = net.logits(x, y).reshape(p, p, p)
    assert np.allclose(f, naive_logits(net.theta, net.xi, NUMPY_ACTS[name], p), atol=1e-12)


def test_callable_activation_and_swap(getkey):
    p = 5
    net = ff.init_gaussian(getkey(), p, 4, scale=1.0, activation=jnp.tanh)
    x, y = ff.all_pairs(p)
    ref = naive_logits(net.theta, net.xi, np.tanh, p)
    assert np.allclose(net.logits(x, y).reshape(p, p, p), ref, atol=1e-12)
    swapped = net.with_activation("quad")
    assert swapped.activation == "quad"
    ref = naive_logits(net.theta, net.xi, NUMPY_ACTS["quad"], p)
    assert np.allclose(swapped.logits(x, y).reshape(p, p, p), ref, atol=1e-12)


def test_embedding_variant(getkey):
    p, M, d = 5, 3, 4
    E = jax.random.normal(getkey(), (d, p))
    theta = jax.random.normal(getkey(), (M, d))
    xi = jax.random.normal(getkey(), (M, p))
    net = ff.TwoLayerNet(theta, xi, "relu", embedding=E)
    x, y = ff.all_pairs(p)
    ref = naive_logits(theta, xi, NUMPY_ACTS["relu"], p, E=np.asarray(E))
    assert np.allclose(net.logits(x, y).reshape(p, p, p), ref, atol=1e-12)
    assert net.p == p and net.width == M


def test_logits_shape_broadcast(getkey):
    net = ff.init_gaussian(getkey(), 7, 6, scale=1.0)
    x = jnp.zeros((2, 3), int)
    assert net.logits(x, x + 1).shape == (2, 3, 7)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_loss_matches_numpy_and_reduction(reduction, getkey):
    p = 7
    net = ff.init_gaussian(getkey(), p, 5, scale=2.0, activation="relu")
    x, y = ff.all_pairs(p)
    f = np.asarray(net.logits(x, y))
    z = (np.asarray(x) + np.asarray(y)) % p
    nll = np.log(np.exp(f).sum(-1)) - f[np.arange(p * p), z]
    ref = nll.sum() if reduction == "sum" else nll.mean()
    assert abs(ff.loss(net, x, y, reduction) - ref) < 1e-10


@pytest.mark.parametrize("activation", ["quad", "relu", "softplus"])
def test_grad_matches_finite_differences(activation, getkey):
    p = 5
    net = ff.init_gaussian(getkey(), p, 3, scale=1.5, activation=activation)
    x, y = ff.all_pairs(p)
    grads = jax.grad(ff.loss)(net, x, y, "sum")
    h = 1e-6
    for field in ("theta", "xi"):
        w = getattr(net, field)
        for idx in [(0, 0), (1, 3), (2, 4)]:
            bump = jnp.zeros_like(w).at[idx].set(h)
            plus = ff.loss(eqx_replace(net, field, w + bump), x, y, "sum")
            minus = ff.loss(eqx_replace(net, field, w - bump), x, y, "sum")
            fd = (plus - minus) / (2 * h)
            assert abs(getattr(grads, field)[idx] - fd) < 1e-6 * max(1.0, abs(fd))


def eqx_replace(net, field, value):
    import equinox as eqx

    return eqx.tree_at(lambda n: getattr(n, field), net, value)


def test_accuracy_of_perfect_lookup():
    # a network that is exactly the lookup table z = x + y mod p: identity activation cannot,
    # so check accuracy against numpy argmax instead
    p = 5
    net = ff.diversified(p, 3)
    x, y = ff.all_pairs(p)
    f = np.asarray(net.logits(x, y))
    ref = np.mean(f.argmax(-1) == (np.asarray(x) + np.asarray(y)) % p)
    assert ff.accuracy(net, x, y) == ref == 1.0


def test_bad_network_inputs():
    with pytest.raises(ValueError, match="activation"):
        ff.TwoLayerNet(jnp.zeros((2, 5)), jnp.zeros((2, 5)), "tanhh")
    with pytest.raises(ValueError, match="theta"):
        ff.TwoLayerNet(jnp.zeros((3, 5)), jnp.zeros((2, 5)))
    with pytest.raises(ValueError, match="reduction"):
        net = ff.TwoLayerNet(jnp.zeros((2, 5)), jnp.zeros((2, 5)))
        ff.loss(net, jnp.arange(3), jnp.arange(3), "avg")


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("fraction", [0.6, 1.0])
def test_folded_loss_equals_loss_on_train_pairs(reduction, fraction, getkey):
    p = 7
    net = ff.init_gaussian(getkey(), p, 5, scale=2.0, activation="relu")
    split = ff.random_split(getkey(), p, fraction)
    x, y = split.pairs(split.train)
    pairs = ff.fold_pairs(split)
    assert pairs.z.shape[0] < x.shape[0]  # the fold does less work
    assert abs(ff.folded_loss(net, pairs, reduction) - ff.loss(net, x, y, reduction)) < 1e-10
    g1 = jax.grad(ff.folded_loss)(net, pairs, reduction)
    g2 = jax.grad(ff.loss)(net, x, y, reduction)
    assert tree_allclose(g1, g2, rtol=1e-10, atol=1e-12)
