import itertools
import math

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import fourierflow as ff


def test_gaussian_statistics(getkey):
    p, M, scale = 23, 4000, 0.3
    net = ff.init_gaussian(getkey(), p, M, scale, activation="relu")
    assert net.theta.shape == net.xi.shape == (M, p) and net.activation == "relu"
    for w in (net.theta, net.xi):
        # std of the sample std of n = M p normals is std / sqrt(2n): 6 sigma bound
        assert abs(jnp.std(w) / (scale / math.sqrt(p)) - 1) < 6 / math.sqrt(2 * M * p)
        assert abs(jnp.mean(w)) < 6 * scale / math.sqrt(p) / math.sqrt(M * p)


@pytest.mark.parametrize("frequencies", ["uniform", "balanced"])
def test_single_frequency_spectrum(frequencies, getkey):
    p, M, kappa = 23, 50, 0.02
    net = ff.init_single_frequency(getkey(), p, M, kappa, frequencies=frequencies)
    for w in (net.theta, net.xi):
        g0, _, _ = ff.fourier_coefficients(w)
        mag, _ = ff.polar(w)
        assert jnp.max(jnp.abs(g0)) < 1e-14
        assert jnp.all(jnp.sum(mag > 1e-12, axis=-1) == 1)
        assert jnp.allclose(jnp.max(mag, axis=-1), kappa, rtol=1e-12)
    alpha, _ = ff.polar(net.theta)
    beta, _ = ff.polar(net.xi)
    assert jnp.all(jnp.argmax(alpha, -1) == jnp.argmax(beta, -1))
    if frequencies == "balanced":
        counts = np.bincount(np.asarray(ff.dominant_frequency(beta)), minlength=12)[1:]
        assert counts.max() - counts.min() <= 1


def test_single_frequency_explicit(getkey):
    net = ff.init_single_frequency(getkey(), 7, 3, 0.5, frequencies=[1, 3, 3])
    assert list(ff.dominant_frequencies(net)) == [1, 3, 3]
    with pytest.raises(ValueError, match="frequencies"):
        ff.init_single_frequency(getkey(), 7, 3, 0.5, frequencies=[1, 4, 3])


def test_multi_frequency_spectrum(getkey):
    p, M, kappa = 13, 20, 0.1
    net = ff.init_multi_frequency(getkey(), p, M, kappa)
    for w in (net.theta, net.xi):
        mag, _ = ff.polar(w)
        assert jnp.allclose(mag, kappa, rtol=1e-12)
        assert jnp.max(jnp.abs(ff.fourier_coefficients(w)[0])) < 1e-13
    _, phi = ff.polar(net.theta)
    _, psi = ff.polar(net.xi)
    assert not jnp.allclose(phi[0], phi[1])  # independent phases


def prop42_logits(p, N, a):
    """theory eqs. (42)-(43) / Prop 4.2: (aN/2) (-1 + (p/2) 1[x+y=j] + (p/4) (1[2x=j] + 1[2y=j])) mod p."""
    x, y, j = np.meshgrid(np.arange(p), np.arange(p), np.arange(p), indexing="ij")
    ind = lambda c: c.astype(float)  # noqa: E731
    return (a * N / 2) * (
        -1
        + (p / 2) * ind((x + y) % p == j)
        + (p / 4) * (ind((2 * x) % p == j) + ind((2 * y) % p == j))
    )


@pytest.mark.parametrize("p", [7, 23])
@pytest.mark.parametrize("N", [3, 5, 8])
def test_diversified_prop42(p, N):
    a = 0.7
    net = ff.diversified(p, N, a)
    x, y = ff.all_pairs(p)
    f = np.asarray(net.logits(x, y)).reshape(p, p, p)
    assert np.max(np.abs(f - prop42_logits(p, N, a))) < 1e-9
    # margin of the correct logit over every other: aNp/8 off the diagonal, aNp/2 on it
    for xv, yv in itertools.product(range(p), range(p)):
        z = (xv + yv) % p
        gap = f[xv, yv, z] - np.max(np.delete(f[xv, yv], z))
        expected = a * N * p / (2 if xv == yv else 8)
        assert gap >= expected - 1e-9
    assert ff.accuracy(net, x, y) == 1.0


def test_diversified_options(getkey):
    net = ff.diversified(11, [3, 4], 2.0, freqs=[2, 5], alpha=0.5)
    alpha, phi = ff.polar(net.theta)
    beta, psi = ff.polar(net.xi)
    assert net.width == 7
    assert list(ff.dominant_frequencies(net)) == [2] * 3 + [5] * 4
    k = ff.dominant_frequencies(net)[:, None] - 1
    a_, b_ = [jnp.take_along_axis(v, k, -1)[:, 0] for v in (alpha, beta)]
    assert jnp.allclose(a_**2 * b_, 2.0) and jnp.allclose(a_, 0.5)
    D = ff.phase_difference(*[jnp.take_along_axis(v, k, -1)[:, 0] for v in (phi, psi)])
    assert jnp.allclose(jnp.sin(D), 0, atol=1e-12)
    u = ff.diversified(11, 6, sampling="uniform", phase_span=math.pi, key=getkey())
    _, phi_u = ff.polar(u.theta)
    assert u.width == 30


BAD_CASES = [
    (lambda k: ff.init_gaussian(k, 4, 8, 0.1), ValueError, "`p`"),
    (lambda k: ff.init_gaussian(k, 1, 8, 0.1), ValueError, "`p`"),
    (lambda k: ff.init_gaussian(k, 7.0, 8, 0.1), TypeError, "`p`"),
    (lambda k: ff.init_gaussian(k, 7, 0, 0.1), ValueError, "`width`"),
    (lambda k: ff.init_gaussian(k, 7, 4, -1.0), ValueError, "`scale`"),
    (lambda k: ff.init_single_frequency(k, 7, 4, 0.0), ValueError, "`kappa`"),
    (lambda k: ff.init_multi_frequency(k, 7, 4, -0.1), ValueError, "`kappa`"),
    (lambda k: ff.init_gaussian(k, 7, 4, 0.1, activation="gelu"), ValueError, "`activation`"),
    (lambda k: ff.diversified(7, 3, freqs=[4]), ValueError, "`freqs`"),
    (lambda k: ff.diversified(7, 3, sampling="random"), ValueError, "`sampling`"),
    (lambda k: ff.random_split(k, 7, 0.0), ValueError, "`train_fraction`"),
    (lambda k: ff.random_split(k, 7, 1.5), ValueError, "`train_fraction`"),
    (lambda k: ff.all_pairs(10), ValueError, "`p`"),
]


@pytest.mark.parametrize("case", range(len(BAD_CASES)))
def test_bad_input(case):
    make, err, name = BAD_CASES[case]
    with pytest.raises(err, match=name):
        make(jr.key(0))
