"""Heat maps of per-neuron Fourier magnitudes and phase differences (paper Fig. 2 style)."""

import matplotlib as mpl
import numpy as np
from matplotlib.patches import Patch

import fourierflow as ff

from ._style import PAGE_WIDTH, new_figure, paper_figure, pi_axis, set_title

# A phase is undefined where a magnitude is this small relative to the network's largest.
_UNDEFINED = 1e-6
_HATCH = dict(facecolor="white", edgecolor="0.6", hatch="////", lw=0)


@paper_figure
def plot_spectra(
    nets: dict[str, ff.TwoLayerNet], *, max_neurons: int = 64, title: str | None = None
):
    """Heat maps of `alpha_k` (theta), `beta_k` (xi) and the phase difference
    `D_k = 2 phi_k - psi_k` per neuron, one row per network (a page's width, 7 in).

    Neurons are sorted by dominant output frequency so single-frequency structure shows as a
    staircase. The magnitudes of a row share one colour scale; `D_k` is drawn on a cyclic
    colour map (`twilight`: `D = 0`, aligned, is dark, `D = pi` light) and hatched where it
    is undefined (`alpha_k` or `beta_k` zero), so initializations with equal magnitudes are
    told apart by their phases.

    **Arguments:**

    - `nets`: label -> unbatched `TwoLayerNet`.
    - `max_neurons`: show at most this many neurons (the first ones).
    - `title`: an optional figure title.

    **Returns:**

    The matplotlib `Figure`.
    """
    n = len(nets)
    fig = new_figure(PAGE_WIDTH, 0.6 + 1.75 * n)
    rows = fig.subfigures(n, 1, squeeze=False)[:, 0]
    any_undefined = False
    twilight = mpl.colormaps["twilight"].with_extremes(bad=(0, 0, 0, 0))
    for row, (label, net) in zip(rows, nets.items(), strict=True):
        alpha, phi = (np.asarray(a)[:max_neurons] for a in ff.polar(net.theta))
        beta, psi = (np.asarray(a)[:max_neurons] for a in ff.polar(net.xi))
        order = np.lexsort((-beta.max(-1), np.argmax(beta, -1)))
        K = alpha.shape[-1]
        vmax = max(alpha.max(), beta.max())
        D = np.asarray(ff.wrap_angle(2 * phi - psi))
        undefined = np.minimum(alpha, beta) <= _UNDEFINED * vmax
        D = np.where(undefined, np.nan, D)
        any_undefined |= bool(undefined.any())
        axes = row.subplots(1, 3, sharey=True)
        extent = (-0.5, len(order) - 0.5, 0.5, K + 0.5)
        panels = (
            (alpha, r"input $\alpha_k$ ($\theta$)", dict(cmap="viridis", vmin=0.0, vmax=vmax)),
            (beta, r"output $\beta_k$ ($\xi$)", dict(cmap="viridis", vmin=0.0, vmax=vmax)),
            (D, r"$D_k = 2\phi_k - \psi_k$", dict(cmap=twilight, vmin=-np.pi, vmax=np.pi)),
        )
        for ax, (values, name, kw) in zip(axes, panels, strict=True):
            if values is D:
                ax.add_patch(
                    mpl.patches.Rectangle((0, 0), 1, 1, transform=ax.transAxes, zorder=-1, **_HATCH)
                )
            im = ax.imshow(values[order].T, aspect="auto", origin="lower", extent=extent, **kw)
            ax.set_title(name)
            ax.set_xlabel("neuron (by dominant freq.)")
            if values is D:
                cbar = row.colorbar(im, ax=ax, aspect=15, pad=0.02)
                pi_axis(cbar.ax.yaxis, np.pi / 2)
            elif values is beta:
                row.colorbar(im, ax=list(axes[:2]), aspect=15, pad=0.02, label="magnitude")
        axes[0].set_ylabel("frequency $k$")
        axes[0].yaxis.set_major_locator(mpl.ticker.MaxNLocator(6, integer=True))
        row.suptitle(label, fontsize=mpl.rcParams["axes.titlesize"], fontweight="bold")
    if any_undefined:
        fig.legend(
            handles=[Patch(**_HATCH, label=r"$D_k$ undefined ($\alpha_k$ or $\beta_k$ = 0)")],
            loc="outside lower right",
        )
    set_title(fig, title)
    return fig
