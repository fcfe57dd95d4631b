import math

import jax.numpy as jnp
import numpy as np

import fourierflow as ff


def test_progress_measures_single_frequency(getkey):
    p, M, kappa = 11, 6, 0.3
    net = ff.init_single_frequency(getkey(), p, M, kappa)
    assert abs(ff.frequency_sparsity(net) - 1.0) < 1e-12
    # each row is kappa cos(...): ||row||^2 = kappa^2 p / 2 exactly
    assert abs(ff.weight_norm(net) - 2 * kappa * math.sqrt(p / 2)) < 1e-12
    # |sin D| from the phases drawn, recomputed by numpy from the raw weights
    theta, xi = np.asarray(net.theta), np.asarray(net.xi)
    j = np.arange(p)
    vals = []
    for m in range(M):
        ft, fx = np.fft.rfft(theta[m]), np.fft.rfft(xi[m])
        k = np.argmax(np.abs(fx[1:])) + 1
        # np.fft: v[j] = a cos(w j + phi) -> coefficient (p a / 2) e^{i phi}
        vals.append(abs(np.sin(2 * np.angle(ft[k]) - np.angle(fx[k]))))
    assert abs(ff.phase_alignment(net) - np.mean(vals)) < 1e-12
    assert j.size == p


def test_diversified_is_aligned_and_sparse():
    net = ff.diversified(13, 5)
    assert ff.phase_alignment(net) < 1e-12
    assert abs(ff.frequency_sparsity(net) - 1) < 1e-12


def test_measures_broadcast_over_time_axis(getkey):
    nets = [ff.init_gaussian(getkey(), 7, 5, 1.0) for _ in range(3)]
    stacked = ff.TwoLayerNet(jnp.stack([n.theta for n in nets]), jnp.stack([n.xi for n in nets]))
    for fn in (ff.frequency_sparsity, ff.phase_alignment, ff.weight_norm):
        assert jnp.allclose(fn(stacked), jnp.stack([fn(n) for n in nets]), atol=1e-13)
