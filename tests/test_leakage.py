"""ReLU leakage (Prop 6.3 / Obs. 7, theory eqs. (44)-(46)): the decoupled main-flow gradient and the harmonic
law of its spectrum, checked against closed forms and the exact cross-entropy gradient."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fourierflow as ff


def _single_neuron(p, k, phi, psi, kappa=0.01, activation="relu"):
    j = jnp.arange(p)
    w = 2 * math.pi * k / p
    theta = kappa * jnp.cos(w * j + phi)[None]
    xi = kappa * jnp.cos(w * j + psi)[None]
    return ff.TwoLayerNet(theta, xi, activation)


R_MAX = 9


@pytest.mark.parametrize("p, k_star", [(199, 1), (199, 7), (997, 1)])
def test_xi_leakage_law(p, k_star):
    # -dL/dxi[j] is a p-point trapezoidal sum of |cos| (kinks: error O(1/p^2)) plus the
    # aliases r' = p -+ r of each harmonic (relative size (4r^2 - 1) / (4 (p - r)^2)); both are
    # below 10 r^2 / p^2 relative, which is the tolerance (measured: 3e-3 at p=199, r=9).
    net = _single_neuron(p, k_star, 0.3, 1.7)
    s = ff.gradient_spectrum(net)
    measured = np.asarray(ff.leakage_ratios(s["beta"][0], k_star, R_MAX))
    r = np.arange(1, R_MAX + 1)
    law = np.asarray(ff.leakage_ratio_law(r, "xi"))
    np.testing.assert_allclose(law, 3 / (4 * r**2 - 1))
    assert np.all(np.abs(measured / law - 1) <= 10 * r**2 / p**2)


def test_xi_leakage_converges_with_p():
    r = np.arange(1, R_MAX + 1)
    law = np.asarray(ff.leakage_ratio_law(r, "xi"))
    errs = []
    for p in (59, 199, 997):
        s = ff.gradient_spectrum(_single_neuron(p, 1, 0.3, 1.7))
        errs.append(np.max(np.abs(np.asarray(ff.leakage_ratios(s["beta"][0], 1, R_MAX)) - law)))
    assert errs[0] > errs[1] > errs[2]
    # The O(1/p^2) of the docstring: 199 -> 997 shrinks the error at least ~10x.
    assert errs[2] < errs[1] / 10


@pytest.mark.parametrize("D", [0.0, 1.0, math.pi / 2, 2.5])
@pytest.mark.parametrize("p", [199, 997])
def test_theta_leakage_law(p, D):
    # -dL/dtheta sums an indicator over p grid points: its jump makes the error O(1/p)
    # absolute per entry (measured <= 3e-4 at p=199), so the tolerance is 1/p on each ratio,
    # even harmonics included (the law there is exactly 0).
    phi = 0.4
    net = _single_neuron(p, 1, phi, 2 * phi - D)
    s = ff.gradient_spectrum(net)
    measured = np.asarray(ff.leakage_ratios(s["alpha"][0], 1, R_MAX))
    r = np.arange(1, R_MAX + 1)
    law = np.asarray(ff.leakage_ratio_law(r, "theta", D))
    np.testing.assert_allclose(measured, law, atol=1 / p, rtol=0)


def test_theta_law_closed_forms():
    r = np.arange(1, 16)
    odd = r % 2 == 1
    aligned = np.asarray(ff.leakage_ratio_law(r, "theta", 0.0))
    np.testing.assert_allclose(aligned[odd], 3 / np.abs(r[odd] ** 2 - 4), rtol=1e-12)
    assert np.all(aligned[~odd] == 0)
    quarter = np.asarray(ff.leakage_ratio_law(r, "theta", math.pi / 2))
    np.testing.assert_allclose(quarter[odd], 3 / np.abs(r[odd] * (r[odd] ** 2 - 4)), rtol=1e-12)
    # Broadcasting over D and the decay ~ 1 / r^2 for generic D.
    table = np.asarray(ff.leakage_ratio_law(r[:, None], "theta", jnp.array([0.3, 1.0])))
    assert table.shape == (15, 2)
    assert np.all(table[odd][-1] * r[odd][-1] ** 2 < 4)


def test_theta_fundamental_is_proportional_to_theta_when_aligned():
    # Prop 6.3 (ii): at D = 0 the k* component of -dL/dtheta is parallel to theta (and that
    # of -dL/dxi has phase 2 phi = psi). For k* = 1 the indicator's edge sits at the same
    # fractional grid offset for every i, so its quantisation error is coherent: it shifts
    # the fundamental's phase by up to one grid step 2 pi / p (measured 3.6/p at p=997).
    for p in (199, 997):
        phi = 0.9
        s = ff.gradient_spectrum(_single_neuron(p, 1, phi, 2 * phi))
        assert abs(float(s["phi"][0, 0]) - phi) < 2 * math.pi / p
        assert abs(float(s["psi"][0, 0]) - 2 * phi) < 1e-6


def test_decoupled_gradient_equals_quadratic_main_flow(getkey):
    # theory eq. (21) closed form (exact at finite p): for quad,
    # -dL/dtheta = 2p sum_k alpha beta cos(w j + psi - phi), -dL/dxi = p sum_k alpha^2 cos(w j + 2 phi).
    p = 13
    net = ff.init_multi_frequency(getkey(), p, 3, 0.1)
    s = ff.gradient_spectrum(net)

    @jax.jit  # one compilation instead of op-by-op dispatch
    def closed_form(net):
        alpha, phi = ff.polar(net.theta)
        beta, psi = ff.polar(net.xi)
        return ff.from_polar(2 * p * alpha * beta, psi - phi), ff.from_polar(p * alpha**2, 2 * phi)

    g_theta, g_xi = closed_form(net)
    np.testing.assert_allclose(s["g_theta"], g_theta, atol=1e-12)
    np.testing.assert_allclose(s["g_xi"], g_xi, atol=1e-12)
    # theory eq. (21): DC components stay constant (the mean(xi) term removes the DC push exactly).
    np.testing.assert_allclose(jnp.mean(s["g_xi"], axis=-1), 0.0, atol=1e-14)
    # "mean" divides by p^2.
    s_mean = ff.gradient_spectrum(net, reduction="mean")
    np.testing.assert_allclose(s_mean["g_theta"] * p**2, s["g_theta"], rtol=1e-12)


def test_uniform_softmax_is_the_small_kappa_limit_of_the_exact_gradient():
    # softmax - 1/p = O(f) = O(kappa^2): the relative gap shrinks 100x per 10x in kappa.
    p = 31
    errs = []
    for kappa in (1e-2, 1e-3):
        net = _single_neuron(p, 2, 0.3, 1.1, kappa=kappa)
        u = ff.gradient_spectrum(net, softmax="uniform")
        e = ff.gradient_spectrum(net, softmax="exact")
        errs.append(float(jnp.max(jnp.abs(u["g_xi"] - e["g_xi"])) / jnp.max(jnp.abs(u["g_xi"]))))
    assert 50 < errs[0] / errs[1] < 200


def test_decoupled_loss_jit_vmap():
    nets = [_single_neuron(23, k, 0.1 * k, 0.2) for k in (1, 2, 3)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *nets)
    vals = eqx.filter_jit(eqx.filter_vmap(ff.decoupled_loss))(stacked)
    np.testing.assert_allclose(vals, [ff.decoupled_loss(n) for n in nets], rtol=1e-12)


def test_harmonic_orders():
    np.testing.assert_array_equal(ff.harmonic_orders(23, 1), np.arange(1, 12))
    orders = ff.harmonic_orders(23, 3)
    assert sorted(orders) == list(range(1, 12))  # a bijection for prime p
    for k, r in enumerate(orders, start=1):
        assert (r * 3) % 23 in (k, 23 - k)


def test_bad_input():
    with pytest.raises(ValueError, match="r"):
        ff.leakage_ratio_law(0)
    with pytest.raises(ValueError, match="layer"):
        ff.leakage_ratio_law(1, "bias")
    with pytest.raises(ValueError, match="k_star"):
        ff.harmonic_orders(23, 12)
    with pytest.raises(ValueError, match="softmax"):
        ff.gradient_spectrum(_single_neuron(11, 1, 0.0, 0.0), softmax="none")
    with pytest.raises(ValueError, match="unbatched"):
        net = _single_neuron(11, 1, 0.0, 0.0)
        ff.decoupled_loss(ff.TwoLayerNet(net.theta[None], net.xi[None], "relu"))
