"""Figures of trained networks and of training (paper Figs. 2, 3, 5, 10-12).

Every function returns the figure, drawn at its printed size (a paper column, 3.5 in, or a
page, 7 in); inputs are a `TwoLayerNet`, a `History`, a `Split` or plain arrays, so any run (a
named configuration or not) can feed them.
"""

import warnings
from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

import fourierflow as ff

from ._style import (
    COLUMN_WIDTH,
    PAGE_WIDTH,
    legend_above,
    legend_top,
    new_figure,
    paper_figure,
    pi_axis,
    set_title,
)

STAGE_COLORS = ("tab:red", "tab:orange", "tab:green")
STAGE_NAMES = ("memorization", "generalization I", "generalization II")


def _spectrum_rows(v):
    """`(dc, a_1..a_K)` magnitudes of each row: |DC coefficient| and `hypot(gc_k, gs_k)`."""
    g0, gc, gs = (np.asarray(a) for a in ff.fourier_coefficients(v))
    return np.concatenate([np.abs(g0[..., None]), np.hypot(gc, gs)], -1)


def order_by_frequency(net: ff.TwoLayerNet, neurons: Sequence[int] | None = None) -> np.ndarray:
    """The neurons (default all) sorted by dominant frequency, then by index."""
    k = np.asarray(ff.dominant_frequencies(net))
    idx = np.arange(net.width) if neurons is None else np.asarray(neurons)
    return idx[np.lexsort((idx, k[idx]))]


@paper_figure
def plot_dft_heatmap(net: ff.TwoLayerNet, neurons: Sequence[int] | None = None, *, title=None):
    """Fig. 2a: the Fourier magnitudes of `theta_m` and `xi_m` for some neurons, one row per
    neuron, rows grouped by dominant frequency (a page's width, 7 in).

    **Arguments:**

    - `net`: a (trained) network; `neurons`: indices (default the first 10).
    - `title`: the figure title.

    **Returns:**

    The figure.
    """
    neurons = order_by_frequency(net, range(10) if neurons is None else neurons)
    K = ff.num_frequencies(net.p)
    k_dom = np.asarray(ff.dominant_frequencies(net))[neurons]
    fig = new_figure(PAGE_WIDTH, 0.16 * len(neurons) + 1.3)
    axes = fig.subplots(1, 2, sharey=True)
    step = 1 if K <= 16 else int(np.ceil(K / 12))
    for ax, w, name in zip(axes, (net.theta, net.xi), ("theta", "xi"), strict=True):
        spec = _spectrum_rows(np.asarray(w)[neurons])
        im = ax.imshow(spec, aspect="auto", cmap="Blues", vmin=0)
        ticks = [0] + list(range(step, K + 1, step))
        ax.set_xticks(ticks, ["DC"] + [str(k) for k in ticks[1:]])
        ax.set_yticks(
            range(len(neurons)), [f"{m} (k={k})" for m, k in zip(neurons, k_dom, strict=True)]
        )
        ax.set_xlabel("frequency $k$")
        ax.set_title(rf"$|\hat{{\{name}}}_m|$")
        fig.colorbar(im, ax=ax, label="DFT magnitude", aspect=15, pad=0.02)
    axes[0].set_ylabel("neuron $m$ (dominant $k$)")
    set_title(fig, title or "Fourier spectra of trained neurons")
    return fig


@paper_figure
def plot_cosine_fits(net: ff.TwoLayerNet, neurons: Sequence[int] = (0, 1, 2), *, title=None):
    """Fig. 2b: `theta_m[j]` and `xi_m[j]` with the single-cosine fit at the dominant frequency
    `g0/sqrt(p) + alpha_k cos(w_k j + phi_k)` (theory eq. (9)); a page's width (7 in).

    **Arguments:**

    - `net`: a network; `neurons`: the neurons to draw; `title`: the figure title.

    **Returns:**

    The figure.
    """
    p = net.p
    j = np.arange(p)
    jj = np.linspace(0, p - 1, 400)
    fig = new_figure(PAGE_WIDTH, 3.4)
    axes = fig.subplots(2, len(neurons), squeeze=False, sharex=True)
    for col, m in enumerate(neurons):
        for row, (w, name) in enumerate(((net.theta, "theta"), (net.xi, "xi"))):
            v = np.asarray(w[m])
            mag, phase = (np.asarray(a) for a in ff.polar(v))
            k = int(np.argmax(mag)) + 1
            dc = np.mean(v)
            fit = dc + mag[k - 1] * np.cos(2 * np.pi * k * jj / p + phase[k - 1])
            ax = axes[row, col]
            ax.plot(jj, fit, "-", color="C1", lw=1.0)
            ax.plot(j, v, "o", color="C0", ms=3)
            ax.set_ylabel(rf"$\{name}_{{{m}}}[j]$")
            ax.set_title(f"neuron {m}, {'input' if row == 0 else 'output'}: $k = {k}$")
            if row == 1:
                ax.set_xlabel("$j$")
    handles = [
        Line2D([], [], ls="", marker="o", color="C0", ms=3, label="learned weight"),
        Line2D([], [], color="C1", lw=1.0, label="single cosine at the dominant $k$"),
    ]
    legend_top(
        fig, handles, title=title or "Learned weights and their single-frequency cosine fits"
    )
    return fig


@paper_figure
def plot_phase_doubling(phi, psi, *, title=None):
    """Fig. 3a: `psi` against `2 phi` (mod 2pi) at each neuron's dominant frequency (a paper
    column, 3.5 in).

    **Arguments:**

    - `phi`, `psi`: `(M,)` phases; `title`: the figure title.

    **Returns:**

    The figure.
    """
    two_phi = np.mod(2 * np.asarray(phi), 2 * np.pi)
    psi = np.mod(np.asarray(psi), 2 * np.pi)
    fig = new_figure(COLUMN_WIDTH, 3.5)
    ax = fig.subplots()
    ax.plot(two_phi, psi, ".", ms=3, color="C0", label="neurons")
    ax.plot([0, 2 * np.pi], [0, 2 * np.pi], "k--", lw=0.9, label=r"$\psi = 2\phi$")
    ax.set(xlim=(0, 2 * np.pi), ylim=(0, 2 * np.pi), xlabel=r"$2\phi$ mod $2\pi$")
    ax.set(ylabel=r"$\psi$ mod $2\pi$", aspect="equal")
    pi_axis(ax.xaxis, np.pi / 2)
    pi_axis(ax.yaxis, np.pi / 2)
    legend_above(ax, title=title or "Phase doubling (Obs. 2)")
    return fig


@paper_figure
def plot_phase_groups(k_dom, phi, alpha, beta, K: int, *, title=None):
    """Fig. 3b-c: per frequency, the neuron count, the phases `phi` on the unit circle
    (scaled by `alpha`), and the spread of magnitudes (a page's width, 7 in).

    **Arguments:**

    - `k_dom`: `(M,)` dominant frequencies in 1..K; `phi`, `alpha`, `beta`: `(M,)` at it.
    - `K`: the number of frequencies; `title`: the figure title.

    **Returns:**

    The figure.
    """
    k_dom, phi = np.asarray(k_dom), np.asarray(phi)
    alpha, beta = np.asarray(alpha), np.asarray(beta)
    fig = new_figure(PAGE_WIDTH, 2.7)
    ax0 = fig.add_subplot(1, 3, 1)
    ax1 = fig.add_subplot(1, 3, 2, projection="polar")
    ax2 = fig.add_subplot(1, 3, 3)
    ks = np.arange(1, K + 1)
    colors = mpl.colormaps["tab20"](np.linspace(0, 1, K)) if K > 10 else [f"C{i}" for i in ks - 1]
    counts = np.bincount(k_dom, minlength=K + 1)[1:]
    ax0.bar(ks, counts, color=colors)
    ax0.set(xlabel="frequency $k$", ylabel="neurons", title="neurons per dominant frequency")
    ax0.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    for k in ks:
        sel = k_dom == k
        ax1.plot(phi[sel], alpha[sel], ".", ms=3, color=colors[k - 1], label=f"$k = {k}$")
    ax1.set_title(r"phases $\phi_m$ (radius $\alpha_m$)")
    ax1.tick_params(axis="x", pad=-2)
    ax1.set_xticks(np.arange(4) * np.pi / 2, ["0", r"$\pi/2$", r"$\pi$", r"$3\pi/2$"])
    ax1.yaxis.set_major_locator(mpl.ticker.MaxNLocator(3))
    data = [beta[k_dom == k] for k in ks]
    ax2.boxplot(
        [d if len(d) else [np.nan] for d in data],
        positions=ks,
        widths=0.6,
        flierprops=dict(markersize=2),
    )
    step = 1 if K <= 12 else 2
    ax2.set_xticks(ks[::step], [str(k) for k in ks[::step]])
    ax0.set_xticks(ks[::step], [str(k) for k in ks[::step]])
    ax2.set(xlabel="frequency $k$", ylabel=r"$\beta_m$", title="output magnitudes")
    fig.legend(
        *ax1.get_legend_handles_labels(),
        loc="outside right center",
        title="frequency",
        markerscale=2,
        handletextpad=0.1,
    )
    set_title(fig, title or "Phase symmetry and magnitude spread (Obs. 3)")
    return fig


def shade_stages(ax, bounds, end):
    """Shade the three grokking stages `[0, t1), [t1, t2), [t2, end]` on `ax`."""
    t1, t2 = bounds
    edges = [0, t1 if t1 is not None else end, t2 if t2 is not None else end, end]
    for i in range(3):
        if edges[i + 1] > edges[i]:
            ax.axvspan(edges[i], edges[i + 1], color=STAGE_COLORS[i], alpha=0.1, lw=0)


def _step_axis(ax, xscale: str, steps) -> None:
    """A step axis, linear or symlog (linear to 1000, then log) with ticks 0, 10^3, 10^4..."""
    if xscale == "symlog":
        ax.set_xscale("symlog", linthresh=1000)
        top = max(int(np.ceil(np.log10(max(steps[-1], 1000)))), 3)
        ticks = [0] + [10**e for e in range(3, top + 1) if 10**e <= steps[-1]]
        ax.set_xticks(ticks, ["0"] + [f"$10^{{{e}}}$" for e in range(3, 3 + len(ticks) - 1)])
        ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
    else:
        ax.set_xscale(xscale)
    ax.set_xlim(steps[0], steps[-1])


def _stage_handles(bounds, end):
    t1, t2 = bounds
    edges = [0, t1 if t1 is not None else end, t2 if t2 is not None else end, end]
    return [
        Patch(
            color=STAGE_COLORS[i],
            alpha=0.25,
            lw=0,
            label=f"{STAGE_NAMES[i]}\n[{edges[i]}, {edges[i + 1]}{']' if i == 2 else ')'}",
        )
        for i in range(3)
        if edges[i + 1] > edges[i]
    ]


@paper_figure
def plot_history(history: ff.History, stages=None, *, xscale: str = "linear", title=None):
    """Fig. 5: loss, accuracy, mean `|sin D|`, IPR and norm over training, stages shaded.

    Five panels, each quantity on its own axes, in three rows of a paper column (3.5 x 4.8
    in); the legend (train/test, the stages) fills the sixth place.

    **Arguments:**

    - `history`: a `History`; `stages`: `(t1, t2)` from `grokking_stages` or `None`.
    - `xscale`: `"linear"` or `"symlog"` (linear up to 1000 steps, then logarithmic: shows
      the short memorization stage and the long tail together).
    - `title`: the figure title.

    **Returns:**

    The figure.
    """
    h = {k: np.asarray(v) for k, v in history.as_dict().items()}
    s = h["step"]
    fig = new_figure(COLUMN_WIDTH, 4.8)
    axes = fig.subplots(3, 2, sharex=True).ravel()
    train, test = dict(color="C0"), dict(color="C1", ls="--")
    axes[0].plot(s, h["train_loss"], **train)
    axes[0].plot(s, h["test_loss"], **test)
    axes[0].set(yscale="log", ylabel="cross-entropy", title="(a) loss")
    axes[1].plot(s, h["train_accuracy"], **train)
    axes[1].plot(s, h["test_accuracy"], **test)
    axes[1].set(ylabel="accuracy", title="(b) accuracy", ylim=(-0.02, 1.02))
    axes[2].plot(s, h["phase_alignment"], color="tab:purple")
    axes[2].set(ylabel=r"mean $|\sin D^\star_m|$", title="(c) phase alignment")
    axes[3].plot(s, h["frequency_sparsity"], color="tab:brown")
    axes[3].set(ylabel="mean IPR", title="(d) frequency sparsity")
    axes[4].plot(s, h["weight_norm"], color="0.3")
    axes[4].set(ylabel=r"$\frac{1}{M}\sum_m \|\theta_m\| + \|\xi_m\|$", title="(e) weight norm")
    for ax in axes[:5]:
        _step_axis(ax, xscale, s)
        if stages is not None:
            shade_stages(ax, stages, s[-1])
    for ax in axes[3:5]:
        ax.set_xlabel("step" if xscale == "linear" else "step (log after $10^3$)")
    axes[3].xaxis.set_tick_params(labelbottom=True)
    handles = [
        Line2D([], [], label="train", **train),
        Line2D([], [], label="test", **test),
    ]
    if stages is not None:
        handles += _stage_handles(stages, int(s[-1]))
    key = axes[5]
    key.axis("off")
    key.legend(handles=handles, loc="center", title="(a), (b)" if stages is None else None)
    set_title(fig, title or "Progress measures")
    return fig


@paper_figure
def plot_ensemble_history(history: ff.History, *, xscale: str = "linear", title=None):
    """The progress measures of an ensemble (`train_ensemble`): per quantity the mean over the
    members and their spread (the band from the smallest to the largest member, and the
    mean +- one standard deviation), in the panels of `plot_history` (3.5 x 4.8 in).

    A member's entries after it stopped (NaN: a diverged member) are left out of the
    statistics at those steps.

    **Arguments:**

    - `history`: a `History` whose fields carry a leading member axis, `(members, logs)`.
    - `xscale`: `"linear"` or `"symlog"` (as in `plot_history`).
    - `title`: the figure title.

    **Returns:**

    The figure.
    """
    h = {k: np.asarray(v, dtype=float) for k, v in history.as_dict().items()}
    if h["step"].ndim != 2:
        raise ValueError(
            "`history` must carry a leading member axis (fields of shape (members, logs)); got "
            f"step of shape {h['step'].shape}."
        )
    s = h["step"][0]
    members = h["step"].shape[0]
    fig = new_figure(COLUMN_WIDTH, 4.8)
    axes = fig.subplots(3, 2, sharex=True).ravel()
    train, test = dict(color="C0"), dict(color="C1", ls="--")

    def draw(ax, values, style):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN steps: nothing to draw
            mean, std = np.nanmean(values, 0), np.nanstd(values, 0)
            low, high = np.nanmin(values, 0), np.nanmax(values, 0)
        ax.fill_between(s, low, high, color=style["color"], alpha=0.15, lw=0)
        ax.fill_between(s, mean - std, mean + std, color=style["color"], alpha=0.3, lw=0)
        ax.plot(s, mean, **style)

    draw(axes[0], h["train_loss"], train)
    draw(axes[0], h["test_loss"], test)
    axes[0].set(yscale="log", ylabel="cross-entropy", title="(a) loss")
    draw(axes[1], h["train_accuracy"], train)
    draw(axes[1], h["test_accuracy"], test)
    axes[1].set(ylabel="accuracy", title="(b) accuracy", ylim=(-0.02, 1.02))
    draw(axes[2], h["phase_alignment"], dict(color="tab:purple"))
    axes[2].set(ylabel=r"mean $|\sin D^\star_m|$", title="(c) phase alignment")
    draw(axes[3], h["frequency_sparsity"], dict(color="tab:brown"))
    axes[3].set(ylabel="mean IPR", title="(d) frequency sparsity")
    draw(axes[4], h["weight_norm"], dict(color="0.3"))
    axes[4].set(ylabel=r"$\frac{1}{M}\sum_m \|\theta_m\| + \|\xi_m\|$", title="(e) weight norm")
    for ax in axes[:5]:
        _step_axis(ax, xscale, s)
    for ax in axes[3:5]:
        ax.set_xlabel("step" if xscale == "linear" else "step (log after $10^3$)")
    axes[3].xaxis.set_tick_params(labelbottom=True)
    handles = [
        Line2D([], [], label="train (mean)", **train),
        Line2D([], [], label="test (mean)", **test),
        Patch(color="0.5", alpha=0.45, lw=0, label="mean $\\pm$ 1 s.d."),
        Patch(color="0.5", alpha=0.15, lw=0, label="min to max"),
    ]
    key = axes[5]
    key.axis("off")
    key.legend(handles=handles, loc="center", title=f"{members} members")
    set_title(fig, title or f"Progress measures of an ensemble of {members}")
    return fig


@paper_figure
def plot_memorization(history: ff.History, stages=None, *, title=None):
    """Figs. 10-11 over time: accuracy on common and rare train pairs and on mirror-covered
    and unseen test pairs (a paper column, 3.5 in).

    **Arguments:**

    - `history`: a `History` of a split run; `stages`: `(t1, t2)` or `None`.
    - `title`: the figure title.

    **Returns:**

    The figure.
    """
    h = {k: np.asarray(v) for k, v in history.as_dict().items()}
    fig = new_figure(COLUMN_WIDTH, 3.0)
    ax = fig.subplots()
    for name, style in (("common", "-"), ("rare", "-"), ("mirror_covered", "--"), ("unseen", "--")):
        kind = "train" if name in ("common", "rare") else "test"
        ax.plot(h["step"], h[f"{name}_accuracy"], style, label=f"{name.replace('_', '-')} {kind}")
    handles, _ = ax.get_legend_handles_labels()
    if stages is not None:
        shade_stages(ax, stages, h["step"][-1])
        handles += _stage_handles(stages, int(h["step"][-1]))
    _step_axis(ax, "symlog", h["step"])
    ax.set(xlabel="step (linear to $10^3$, then log)", ylabel="accuracy", ylim=(-0.02, 1.02))
    legend_above(ax, handles, ncol=2, title=title or "Accuracy by symmetry class of the pairs")
    return fig


@paper_figure
def plot_pair_heatmaps(net: ff.TwoLayerNet, split: ff.Split, *, title=None):
    """Fig. 10/11: the symmetry classes of the split, the accuracy per pair, and the softmax
    probability of the correct answer per pair (a page's width, 7 in).

    **Arguments:**

    - `net`: a network; `split`: its split; `title`: the figure title.

    **Returns:**

    The figure.
    """
    p = net.p
    x, y = ff.all_pairs(p)
    f = np.asarray(net.logits(x, y))
    z = (np.asarray(x) + np.asarray(y)) % p
    e = np.exp(f - f.max(-1, keepdims=True))
    prob = (e[np.arange(p * p), z] / e.sum(-1)).reshape(p, p)
    correct = (f.argmax(-1) == z).reshape(p, p)
    classes = (
        1 * np.asarray(split.common)
        + 2 * np.asarray(split.rare)
        + 3 * np.asarray(split.mirror_covered)
        + 4 * np.asarray(split.unseen)
    )
    fig = new_figure(PAGE_WIDTH, 2.75)
    axes = fig.subplots(1, 3)
    cmap = mpl.colors.ListedColormap(["#08306b", "#9e9ac8", "#6baed6", "#ffffff"])
    axes[0].imshow(classes - 1, cmap=cmap, vmin=-0.5, vmax=3.5)
    axes[0].set_title("pairs by symmetry class")
    im1 = axes[1].imshow(correct, cmap="Greens", vmin=0, vmax=1)
    axes[1].set_title("correct (1) / wrong (0)")
    fig.colorbar(im1, ax=axes[1], ticks=[0, 1], shrink=0.8, aspect=15, pad=0.02)
    im2 = axes[2].imshow(prob, cmap="viridis", vmin=0, vmax=1)
    axes[2].set_title("softmax prob. of the answer")
    fig.colorbar(im2, ax=axes[2], shrink=0.8, aspect=15, pad=0.02)
    unseen = np.argwhere(np.asarray(split.unseen))
    for ax in axes:
        ax.set(xlabel="$y$", ylabel="$x$")
        ax.plot(unseen[:, 1], unseen[:, 0], "s", mfc="none", mec="red", ms=2.5, mew=0.5)
    handles = [
        Patch(facecolor=c, edgecolor="k", lw=0.4, label=n)
        for c, n in zip(
            cmap.colors,
            ("common train", "rare train", "mirror-covered test", "unseen test"),
            strict=True,
        )
    ]
    handles.append(
        Line2D([], [], ls="", marker="s", mfc="none", mec="red", ms=4, label="unseen (all panels)")
    )
    legend_top(fig, handles, title=title or "Pairs by class, accuracy and confidence")
    return fig


@paper_figure
def plot_dft_over_training(snapshots: ff.TwoLayerNet, steps, neurons=range(20), *, title=None):
    """Fig. 12: DFT magnitudes of `xi_m` for some neurons at several training steps (a page's
    width, 7 in).

    **Arguments:**

    - `snapshots`: a `TwoLayerNet` whose weights carry a leading time axis.
    - `steps`: the step of each snapshot shown (one panel each).
    - `neurons`: the neurons (rows), ordered by dominant frequency at the last snapshot.
    - `title`: the figure title.

    **Returns:**

    The figure.
    """
    T = snapshots.xi.shape[0]
    last = ff.TwoLayerNet(snapshots.theta[-1], snapshots.xi[-1], snapshots.activation)
    neurons = order_by_frequency(last, list(neurons))
    K = (snapshots.p - 1) // 2
    fig = new_figure(PAGE_WIDTH, 0.12 * len(neurons) + 1.4)
    axes = fig.subplots(1, T, squeeze=False, sharey=True)[0]
    for t in range(T):
        spec = _spectrum_rows(np.asarray(snapshots.xi[t])[neurons])
        ax = axes[t]
        im = ax.imshow(spec / spec.max(), aspect="auto", cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks([0, K // 2, K], ["DC", str(K // 2), str(K)])
        ax.set(title=f"step {int(steps[t])}", xlabel="$k$")
    axes[0].set_yticks(range(len(neurons)), [str(m) for m in neurons])
    axes[0].set_ylabel("neuron $m$ (by final $k$)")
    fig.colorbar(im, ax=list(axes), label=r"$|\hat\xi_m|$ / panel max", aspect=20, pad=0.01)
    set_title(fig, title or r"$|\hat\xi_m|$ over training")
    return fig
