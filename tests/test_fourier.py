import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fourierflow as ff


@pytest.mark.parametrize("p", [3, 7, 23])
def test_basis_orthonormal(p):
    F = ff.fourier_basis(p)
    assert np.allclose(F @ F.T, np.eye(p), atol=1e-13)


@pytest.mark.parametrize("p", [5, 23])
def test_polar_inverse_roundtrip(p, getkey):
    v = jax.random.normal(getkey(), (4, 3, p))
    alpha, phi = ff.polar(v)
    g0, _, _ = ff.fourier_coefficients(v)
    assert alpha.shape == phi.shape == (4, 3, (p - 1) // 2)
    assert jnp.max(jnp.abs(ff.from_polar(alpha, phi, g0) - v)) < 1e-12
    # the DC part is the mean, independently of the basis
    assert jnp.allclose(g0 / math.sqrt(p), v.mean(-1), atol=1e-13)


@pytest.mark.parametrize("k", [1, 4, 11])
@pytest.mark.parametrize("phi0", [-3.0, -0.3, 0.0, 1.2, 3.1])
def test_single_cosine_exact_polar(k, phi0):
    p = 23
    j = np.arange(p)
    v = 0.7 * np.cos(2 * np.pi * k * j / p + phi0)
    alpha, phi = ff.polar(jnp.asarray(v))
    others = np.delete(np.asarray(alpha), k - 1)
    assert abs(alpha[k - 1] - 0.7) < 1e-13
    assert abs(np.angle(np.exp(1j * (phi[k - 1] - phi0)))) < 1e-12
    assert np.max(others) < 1e-13


def test_phase_in_range_and_pi_convention():
    p = 7
    j = np.arange(p)
    v = np.cos(2 * np.pi * j / p + np.pi)  # phase pi: atan2(-0.0, -x) gives pi, not -pi
    _, phi = ff.polar(jnp.asarray(v))
    assert -np.pi < phi[0] <= np.pi
    assert abs(abs(phi[0]) - np.pi) < 1e-12


def test_phase_difference_and_misalignment():
    phi = jnp.array([0.1, 2.0, -1.0])
    psi = jnp.array([0.2, 0.5, 1.0])
    D = ff.phase_difference(phi, psi)
    assert jnp.all((D >= 0) & (D < 2 * jnp.pi))
    assert jnp.allclose(jnp.exp(1j * D), jnp.exp(1j * (2 * phi - psi)))
    B = ff.misalignment(D)
    assert jnp.allclose(jnp.cos(B), jnp.cos(D)) and jnp.all((B >= 0) & (B <= jnp.pi))


def test_dominant_frequency_and_ipr():
    p = 11
    j = np.arange(p)
    single = np.cos(2 * np.pi * 3 * j / p + 0.4) + 5.0  # DC does not count
    assert ff.dominant_frequency(ff.polar(jnp.asarray(single))[0]) == 3
    assert abs(ff.ipr(jnp.asarray(single)) - 1.0) < 1e-12
    flat = sum(np.cos(2 * np.pi * k * j / p + k) for k in range(1, 6))
    assert abs(ff.ipr(jnp.asarray(flat)) - 1 / 5) < 1e-12
    two = np.cos(2 * np.pi * j / p) + 2 * np.cos(2 * np.pi * 2 * j / p)
    assert abs(ff.ipr(jnp.asarray(two)) - (1 + 16) / 25) < 1e-12


def test_polar_jit_vmap(getkey):
    v = jax.random.normal(getkey(), (5, 13))
    a1, p1 = jax.jit(ff.polar)(v)
    a2, p2 = jax.vmap(ff.polar)(v)
    assert jnp.allclose(a1, a2) and jnp.allclose(p1, p2)


def test_wrap_angle_range_and_equivalence():
    angles = jnp.array([-3 * jnp.pi, -jnp.pi, -0.5, 0.0, jnp.pi, 2.5 * jnp.pi, 7.0])
    w = ff.wrap_angle(angles)
    assert jnp.all((w > -jnp.pi) & (w <= jnp.pi))
    assert jnp.allclose(jnp.exp(1j * w), jnp.exp(1j * angles), atol=1e-12)
    assert w[1] == jnp.pi  # -pi maps to pi
