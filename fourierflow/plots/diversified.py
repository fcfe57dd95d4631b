"""Figures of the diversified-network ablation (paper Table 2, Fig. 13), a page wide (7 in)."""

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ._style import PAGE_WIDTH, legend_top, new_figure, paper_figure


@paper_figure
def plot_ablation(
    part1: dict[str, dict[str, float]],
    part2: dict[str, float],
    *,
    paper1: dict[str, float] | None = None,
    paper2: dict[str, float] | None = None,
    accurate: dict[str, float] | None = None,
):
    """Table 2 as two log-scale panels: loss vs number of frequencies (mean and std over all
    subsets) and loss vs phase span; one legend above both.

    **Arguments:**

    - `part1`: label (e.g. `"4"`) -> `{"mean": ..., "std": ...}`.
    - `part2`: label (e.g. `"[0, 0.4pi)"`) -> loss.
    - `paper1`, `paper2`: the paper's values with the same labels (drawn as crosses).
    - `accurate`: label -> the cancellation-free value where it differs (drawn as diamonds).

    **Returns:**

    The matplotlib `Figure`.
    """
    fig = new_figure(PAGE_WIDTH, 2.8)
    axes = fig.subplots(1, 2)
    measured = dict(color="C0", alpha=0.7)
    paper_style = dict(ls="", marker="x", color="crimson", ms=6, mew=1.2)
    accurate_style = dict(ls="", marker="D", color="tab:green", ms=4)
    ax = axes[0]
    labels = list(part1)
    xs = np.arange(len(labels))
    mean = np.array([part1[k]["mean"] for k in labels])
    std = np.array([part1[k]["std"] for k in labels])
    ax.bar(xs, mean, **measured)
    ax.errorbar(
        xs, mean, yerr=np.minimum(std, 0.999 * mean), fmt="none", ecolor="k", capsize=3, lw=0.8
    )
    if paper1:
        ax.plot(xs, [paper1.get(k, np.nan) for k in labels], **paper_style)
    if accurate:
        ax.plot(xs, [accurate.get(k, np.nan) for k in labels], **accurate_style)
    ax.set_xticks(xs, labels)
    ax.set(yscale="log", xlabel="number of frequencies $|K|$", ylabel="mean cross-entropy")
    ax.set_title("(a) frequency diversity ($p = 23$, $M = 128$)")
    ax = axes[1]
    labels = list(part2)
    xs = np.arange(len(labels))
    ax.bar(xs, [part2[k] for k in labels], **measured)
    if paper2:
        ax.plot(xs, [paper2.get(k, np.nan) for k in labels], **paper_style)
    if accurate:
        ax.plot(xs, [accurate.get(k, np.nan) for k in labels], **accurate_style)
    ax.set_xticks(xs, [k.replace("pi", r"$\pi$") for k in labels])
    ax.set(yscale="log", xlabel="phase span", ylabel="mean cross-entropy")
    ax.set_title("(b) phase diversity (all 11 frequencies)")
    handles = [
        Patch(**measured, label="measured (logsumexp; mean over subsets)"),
        Line2D([], [], color="k", lw=0.8, marker="_", ms=6, label="$\\pm$ std over subsets"),
    ]
    if paper1 or paper2:
        handles.append(Line2D([], [], **paper_style, label="paper"))
    if accurate:
        handles.append(Line2D([], [], **accurate_style, label="log1p (no cancellation)"))
    legend_top(fig, handles)
    return fig


@paper_figure
def plot_logits(logits: dict[str, np.ndarray], pairs: list[tuple[int, int]], p: int):
    """Output logits of several predictors at a few query points (paper Fig. 13): one row per
    predictor, one column per query point; the true label `(x + y) mod p` is a dashed line.

    **Arguments:**

    - `logits`: label -> array of shape `(len(pairs), p)`.
    - `pairs`: the query points `(x, y)`.
    - `p`: the modulus.

    **Returns:**

    The matplotlib `Figure`.
    """
    fig = new_figure(PAGE_WIDTH, 0.6 + 1.3 * len(logits))
    axes = fig.subplots(len(logits), len(pairs), squeeze=False, sharex=True)
    for row, (label, f) in enumerate(logits.items()):
        for col, (x, y) in enumerate(pairs):
            ax = axes[row, col]
            ax.bar(np.arange(p), np.asarray(f)[col], color="C0", width=0.8)
            ax.axvline((x + y) % p, ls="--", color="crimson", lw=0.9)
            if row == 0:
                ax.set_title(f"$(x, y) = ({x}, {y})$")
            if row == len(logits) - 1:
                ax.set_xlabel("output $j$")
            if col == 0:
                ax.set_ylabel(f"{label}\nlogit")
    handles = [
        Patch(color="C0", label="logit $f_j$"),
        Line2D([], [], ls="--", color="crimson", lw=0.9, label="answer $(x + y)$ mod $p$"),
    ]
    legend_top(fig, handles)
    return fig
