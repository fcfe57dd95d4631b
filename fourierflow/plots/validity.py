"""Where the reduced theory holds: the validity map of the per-frequency ODE against the exact
flow, from the cells of `fourierflow.experiments.validity_map`."""

from collections.abc import Sequence

import numpy as np
from matplotlib.lines import Line2D

from ._style import PAGE_WIDTH, legend_above, new_figure, paper_figure, set_title

_CLIP = 100.0
_INIT_LABELS = {
    "single_frequency": "single-frequency",
    "multi_frequency": "multi-frequency",
    "gaussian": "Gaussian",
}


@paper_figure
def plot_validity_map(cells: Sequence[dict], *, title: str | None = None):
    """Two panels: (a) the rate at which the exact flow's winner frequency equals the reduced
    ODE's prediction, per cell (rows: init kind and kappa; columns: p and width), numbers in
    the cells; (b) the median relative error of `beta` at the winner at the end of the
    initial stage against kappa, reduced ODE (solid) and main flow (dashed) per init kind.

    **Arguments:**

    - `cells`: dicts with `init`, `kappa`, `p`, `width`, `winner_equals_reduced`,
      `beta_error_reduced`, `beta_error_main`.
    - `title`: the figure's title.

    **Returns:**

    The figure.
    """
    inits = list(dict.fromkeys(c["init"] for c in cells))
    kappas = sorted({c["kappa"] for c in cells})
    columns = sorted({(c["p"], c["width"]) for c in cells})
    rows = [(i, k) for i in inits for k in kappas]
    rate = np.full((len(rows), len(columns)), np.nan)
    for c in cells:
        rate[rows.index((c["init"], c["kappa"])), columns.index((c["p"], c["width"]))] = c[
            "winner_equals_reduced"
        ]
    fig = new_figure(PAGE_WIDTH, 0.32 * len(rows) + 1.3)
    ax_map, ax_err = fig.subplots(1, 2, width_ratios=[1.1, 1])
    image = ax_map.imshow(rate, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for (r, c), value in np.ndenumerate(rate):
        if np.isfinite(value):
            color = "black" if value > 0.6 else "white"
            ax_map.text(c, r, f"{value:.2f}", ha="center", va="center", color=color, fontsize=7)
    ax_map.set_xticks(range(len(columns)), [f"p={p}\nM={m}" for p, m in columns])
    ax_map.set_yticks(range(len(rows)), [f"{_INIT_LABELS.get(i, i)}, κ={k:g}" for i, k in rows])
    ax_map.set_title("(a) exact-flow winner = reduced-ODE prediction")
    fig.colorbar(image, ax=ax_map, fraction=0.05, pad=0.02, label="fraction of neurons")
    styles = {"reduced": "-", "main": "--"}
    for n, init in enumerate(inits):
        for method, ls in styles.items():
            errs = [
                np.median([c[f"beta_error_{method}"] for c in cells if c["init"] == init and
                           c["kappa"] == k and c[f"beta_error_{method}"] is not None] or [np.nan])
                for k in kappas
            ]  # fmt: skip
            # Beyond 100% the reduced flow has blown up before the exact flow's stage ends.
            ax_err.loglog(kappas, np.minimum(errs, _CLIP), ls, color=f"C{n}", marker="o")
    ax_err.axhline(0.1, color="0.5", lw=0.6, ls=":")
    ax_err.text(kappas[0], 0.1, " 10%", va="bottom", fontsize=7, color="0.4")
    ax_err.set(
        xlabel="κ (initial magnitude)",
        ylabel=rf"median rel. error of $\beta$ at $C_{{end}}$ (clipped at {_CLIP:g})",
    )
    handles = [Line2D([], [], color=f"C{n}", marker="o", label=_INIT_LABELS.get(i, i))
               for n, i in enumerate(inits)]  # fmt: skip
    names = {"reduced": "per-freq. ODE", "main": "main flow"}
    handles += [Line2D([], [], color="black", ls=ls, label=names[m]) for m, ls in styles.items()]
    legend_above(ax_err, handles=handles, ncol=2, title="(b) error at the end of the initial stage")
    set_title(fig, title or "Where the per-frequency ODE predicts the exact gradient flow")
    return fig
