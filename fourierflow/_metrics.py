"""Progress measures of a network (theory eq. (13)): frequency sparsity, phase alignment, norm."""

import jax.numpy as jnp

from ._fourier import dominant_frequency, ipr, phase_difference, polar
from ._network import TwoLayerNet
from ._types import Array, Float, Int


def neuron_spectrum(net: TwoLayerNet) -> dict[str, Float[Array, "*batch M K"]]:
    """Per-neuron polar coordinates of both layers (theory eqs. (7)-(13)).

    **Arguments:**

    - `net`: a network (leading batch axes allowed).

    **Returns:**

    A dict of `(..., M, K)` arrays: `alpha, phi` (theta), `beta, psi` (xi) and the phase
    difference `D = 2 phi - psi mod 2pi`.
    """
    alpha, phi = polar(net.theta)
    beta, psi = polar(net.xi)
    return dict(alpha=alpha, phi=phi, beta=beta, psi=psi, D=phase_difference(phi, psi))


def frequency_sparsity(net: TwoLayerNet) -> Float[Array, "*batch"]:
    """The frequency-sparsity progress measure (theory eq. (13)).

    **Arguments:**

    - `net`: a network (leading batch axes allowed).

    **Returns:**

    The mean IPR over the rows `theta_m` and `xi_m` that have frequency content (1 = every
    neuron single-frequency); rows without any (dead neurons) do not count, and the measure is
    NaN only when no row has any.
    """
    values = jnp.concatenate([ipr(net.theta), ipr(net.xi)], axis=-1)
    return jnp.nanmean(values, axis=-1)


def dominant_frequencies(net: TwoLayerNet) -> Int[Array, "*batch M"]:
    """Each neuron's dominant frequency, from the output layer (theory eqs. (7)-(13)).

    **Arguments:**

    - `net`: a network (leading batch axes allowed).

    **Returns:**

    `argmax_k beta_k` as a frequency in 1..K, shape `(..., M)`.
    """
    beta, _ = polar(net.xi)
    return dominant_frequency(beta)


def phase_alignment(net: TwoLayerNet) -> Float[Array, "*batch"]:
    """The phase-alignment progress measure (theory eq. (13)).

    **Arguments:**

    - `net`: a network (leading batch axes allowed).

    **Returns:**

    The mean over neurons of `|sin D|` at each neuron's dominant frequency (0 = aligned).
    """
    s = neuron_spectrum(net)
    k = jnp.argmax(s["beta"], axis=-1)[..., None]
    D = jnp.take_along_axis(s["D"], k, axis=-1)[..., 0]
    return jnp.mean(jnp.abs(jnp.sin(D)), axis=-1)


def weight_norm(net: TwoLayerNet) -> Float[Array, "*batch"]:
    """The norm progress measure (theory eq. (13)).

    **Arguments:**

    - `net`: a network (leading batch axes allowed).

    **Returns:**

    `(1/M) sum_m (||theta_m||_2 + ||xi_m||_2)`.
    """
    norms = jnp.linalg.norm(net.theta, axis=-1) + jnp.linalg.norm(net.xi, axis=-1)
    return jnp.mean(norms, axis=-1)
