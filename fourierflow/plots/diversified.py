"""Figures of the diversified-network ablation (paper Table 2, Fig. 13)."""

import matplotlib.pyplot as plt
import numpy as np


def plot_ablation(
    part1: dict[str, dict[str, float]],
    part2: dict[str, float],
    *,
    paper1: dict[str, float] | None = None,
    paper2: dict[str, float] | None = None,
    accurate: dict[str, float] | None = None,
):
    """Table 2 as two log-scale panels: loss vs number of frequencies (mean and std over all
    subsets) and loss vs phase span.

    **Arguments:**

    - `part1`: label (e.g. `"4"`) -> `{"mean": ..., "std": ...}`.
    - `part2`: label (e.g. `"[0, 0.4pi)"`) -> loss.
    - `paper1`, `paper2`: the paper's values with the same labels (drawn as crosses).
    - `accurate`: label -> the cancellation-free value where it differs (drawn as diamonds).

    **Returns:**

    The matplotlib `Figure`.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    ax = axes[0]
    labels = list(part1)
    xs = np.arange(len(labels))
    mean = np.array([part1[k]["mean"] for k in labels])
    std = np.array([part1[k]["std"] for k in labels])
    ax.bar(xs, mean, color="C0", alpha=0.7, label="mean over all subsets (logsumexp)")
    ax.errorbar(xs, mean, yerr=np.minimum(std, 0.999 * mean), fmt="none", ecolor="k", capsize=4)
    if paper1:
        ax.plot(xs, [paper1.get(k, np.nan) for k in labels], "rx", ms=9, label="paper")
    if accurate:
        ax.plot(xs, [accurate.get(k, np.nan) for k in labels], "gD", label="log1p (accurate)")
    ax.set_xticks(xs, labels)
    ax.set_yscale("log")
    ax.set_xlabel("number of frequencies |K|")
    ax.set_ylabel("mean cross-entropy")
    ax.set_title("Part I: frequency diversity (p=23, M=128)")
    ax.legend(fontsize=8)
    ax = axes[1]
    labels = list(part2)
    xs = np.arange(len(labels))
    ax.bar(xs, [part2[k] for k in labels], color="C1", alpha=0.7, label="logsumexp")
    if paper2:
        ax.plot(xs, [paper2.get(k, np.nan) for k in labels], "rx", ms=9, label="paper")
    if accurate:
        ax.plot(xs, [accurate.get(k, np.nan) for k in labels], "gD", label="log1p (accurate)")
    ax.set_xticks(xs, labels)
    ax.set_yscale("log")
    ax.set_xlabel("phase span")
    ax.set_ylabel("mean cross-entropy")
    ax.set_title("Part II: phase diversity (all 11 frequencies)")
    ax.legend(fontsize=8)
    return fig


def plot_logits(logits: dict[str, np.ndarray], pairs: list[tuple[int, int]], p: int):
    """Output logits of several predictors at a few query points (paper Fig. 13).

    **Arguments:**

    - `logits`: label -> array of shape `(len(pairs), p)`.
    - `pairs`: the query points `(x, y)`.
    - `p`: the modulus.

    **Returns:**

    The matplotlib `Figure`; the true label `(x + y) mod p` is a dashed line.
    """
    fig, axes = plt.subplots(
        len(logits),
        len(pairs),
        figsize=(3.2 * len(pairs), 2.4 * len(logits)),
        squeeze=False,
        constrained_layout=True,
    )
    for row, (label, f) in enumerate(logits.items()):
        for col, (x, y) in enumerate(pairs):
            ax = axes[row, col]
            ax.bar(np.arange(p), np.asarray(f)[col], color="C0")
            ax.axvline((x + y) % p, ls="--", color="r", label="x + y mod p")
            ax.set_title(f"{label}: (x, y) = ({x}, {y})", fontsize=9)
            ax.set_xlabel("output j")
            ax.set_ylabel("logit")
            if row == 0 and col == 0:
                ax.legend(fontsize=7)
    return fig
