"""Heat maps of per-neuron Fourier magnitudes (paper Fig. 2 style)."""

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from .._fourier import polar
from .._network import TwoLayerNet


def plot_spectra(nets: dict[str, TwoLayerNet], *, max_neurons: int = 64, title: str | None = None):
    """Heat maps of `alpha_k` (theta) and `beta_k` (xi) per neuron, one row per network.

    Neurons are sorted by dominant output frequency so single-frequency structure shows as a
    staircase.

    **Arguments:**

    - `nets`: label -> unbatched `TwoLayerNet`.
    - `max_neurons`: show at most this many neurons (the first ones).
    - `title`: an optional figure title.

    **Returns:**

    The matplotlib `Figure`.
    """
    fig, axes = plt.subplots(
        len(nets), 2, figsize=(12, 3.4 * len(nets)), squeeze=False, constrained_layout=True
    )
    for row, (label, net) in enumerate(nets.items()):
        alpha = np.asarray(polar(net.theta)[0])[:max_neurons]
        beta = np.asarray(polar(net.xi)[0])[:max_neurons]
        order = np.lexsort((-beta.max(-1), jnp.argmax(beta, -1)))
        K = alpha.shape[-1]
        vmax = max(alpha.max(), beta.max())
        for col, (mag, layer) in enumerate(
            ((alpha, "theta (input): alpha_k"), (beta, "xi (output): beta_k"))
        ):
            ax = axes[row, col]
            im = ax.imshow(
                mag[order].T,
                aspect="auto",
                origin="lower",
                cmap="viridis",
                vmin=0.0,
                vmax=vmax,
                extent=(-0.5, len(order) - 0.5, 0.5, K + 0.5),
            )
            ax.set_title(f"{label}\n{layer}", fontsize=10)
            ax.set_xlabel("neuron (sorted by dominant frequency)")
            ax.set_ylabel("frequency k")
            fig.colorbar(im, ax=ax, label="magnitude")
    if title:
        fig.suptitle(title)
    return fig
