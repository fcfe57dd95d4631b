"""Figures of trained networks and of training (paper Figs. 2, 3, 5, 10-12).

Every function returns the figure; inputs are a `TwoLayerNet`, a `History`, a `Split` or plain
arrays, so any run (a named configuration or not) can feed them.
"""

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

import fourierflow as ff

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


def plot_dft_heatmap(net: ff.TwoLayerNet, neurons: Sequence[int] | None = None, *, title=None):
    """Fig. 2a: the Fourier magnitudes of `theta_m` and `xi_m` for some neurons, one row per
    neuron, rows grouped by dominant frequency.

    **Arguments:**

    - `net`: a (trained) network; `neurons`: indices (default the first 10).
    - `title`: the figure title.

    **Returns:**

    The figure.
    """
    neurons = order_by_frequency(net, range(10) if neurons is None else neurons)
    K = ff.num_frequencies(net.p)
    k_dom = np.asarray(ff.dominant_frequencies(net))[neurons]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.35 * len(neurons) + 1.8), constrained_layout=True)
    for ax, w, name in zip(axes, (net.theta, net.xi), ("theta", "xi"), strict=True):
        spec = _spectrum_rows(np.asarray(w)[neurons])
        im = ax.imshow(spec, aspect="auto", cmap="Blues")
        ax.set_xticks(range(K + 1), ["DC"] + [str(k) for k in range(1, K + 1)])
        ax.set_yticks(
            range(len(neurons)), [f"m={m} (k={k})" for m, k in zip(neurons, k_dom, strict=True)]
        )
        ax.set(xlabel="frequency k", ylabel="neuron (dominant frequency)")
        ax.set_title(rf"$|\hat{{\{name}}}_m|$ (DFT magnitude)")
        fig.colorbar(im, ax=ax, label="magnitude")
    fig.suptitle(title or "Fourier spectra of trained neurons")
    return fig


def plot_cosine_fits(net: ff.TwoLayerNet, neurons: Sequence[int] = (0, 1, 2), *, title=None):
    """Fig. 2b: `theta_m[j]` and `xi_m[j]` with the single-cosine fit at the dominant frequency
    `g0/sqrt(p) + alpha_k cos(w_k j + phi_k)` (SPEC section 4).

    **Arguments:**

    - `net`: a network; `neurons`: the neurons to draw; `title`: the figure title.

    **Returns:**

    The figure.
    """
    p = net.p
    j = np.arange(p)
    jj = np.linspace(0, p - 1, 400)
    fig, axes = plt.subplots(
        2, len(neurons), figsize=(4 * len(neurons), 6), squeeze=False, constrained_layout=True
    )
    for col, m in enumerate(neurons):
        for row, (w, name) in enumerate(((net.theta, "theta"), (net.xi, "xi"))):
            v = np.asarray(w[m])
            mag, phase = (np.asarray(a) for a in ff.polar(v))
            k = int(np.argmax(mag)) + 1
            dc = np.mean(v)
            fit = dc + mag[k - 1] * np.cos(2 * np.pi * k * jj / p + phase[k - 1])
            ax = axes[row, col]
            ax.plot(j, v, "o", ms=4, label="learned")
            ax.plot(jj, fit, "-", lw=1, label=f"cosine fit, k={k}")
            ax.set(xlabel="input j", ylabel=rf"$\{name}_{{{m}}}[j]$", title=f"neuron {m}: {name}")
            ax.legend(loc="upper right", fontsize=8)
    fig.suptitle(title or "Learned weights and their single-frequency cosine fits")
    return fig


def plot_phase_doubling(phi, psi, *, title=None):
    """Fig. 3a: `psi` against `2 phi` (mod 2pi) at each neuron's dominant frequency.

    **Arguments:**

    - `phi`, `psi`: `(M,)` phases; `title`: the figure title.

    **Returns:**

    The figure.
    """
    two_phi = np.mod(2 * np.asarray(phi), 2 * np.pi)
    psi = np.mod(np.asarray(psi), 2 * np.pi)
    fig, ax = plt.subplots(figsize=(5, 5), constrained_layout=True)
    ax.plot(two_phi, psi, ".", ms=4, label="neurons")
    ax.plot([0, 2 * np.pi], [0, 2 * np.pi], "k--", lw=1, label=r"$\psi = 2\phi$")
    ax.set(xlim=(0, 2 * np.pi), ylim=(0, 2 * np.pi), xlabel=r"$2\phi$ mod $2\pi$")
    ax.set(ylabel=r"$\psi$ mod $2\pi$", title=title or "Phase doubling (Obs. 2)")
    ax.legend(loc="upper left")
    return fig


def plot_phase_groups(k_dom, phi, alpha, beta, K: int, *, title=None):
    """Fig. 3b-c: per frequency, the neuron count, the phases `phi` on the unit circle
    (scaled by `alpha`), and the spread of magnitudes.

    **Arguments:**

    - `k_dom`: `(M,)` dominant frequencies in 1..K; `phi`, `alpha`, `beta`: `(M,)` at it.
    - `K`: the number of frequencies; `title`: the figure title.

    **Returns:**

    The figure.
    """
    k_dom, phi = np.asarray(k_dom), np.asarray(phi)
    alpha, beta = np.asarray(alpha), np.asarray(beta)
    fig = plt.figure(figsize=(14, 4.2), constrained_layout=True)
    ax0 = fig.add_subplot(1, 3, 1)
    counts = np.bincount(k_dom, minlength=K + 1)[1:]
    ax0.bar(np.arange(1, K + 1), counts)
    ax0.set(xlabel="frequency k", ylabel="neurons", title="neurons per dominant frequency")
    ax1 = fig.add_subplot(1, 3, 2, projection="polar")
    colors = plt.cm.tab20(np.linspace(0, 1, K))
    for k in range(1, K + 1):
        sel = k_dom == k
        ax1.plot(phi[sel], alpha[sel], ".", ms=4, color=colors[k - 1], label=f"k={k}")
    ax1.set_title(r"phases $\phi_m$ (radius $\alpha_m$) by frequency")
    ax1.legend(loc="center left", bbox_to_anchor=(1.1, 0.5), fontsize=7)
    ax2 = fig.add_subplot(1, 3, 3)
    data = [beta[k_dom == k] for k in range(1, K + 1)]
    ax2.boxplot([d if len(d) else [np.nan] for d in data], positions=np.arange(1, K + 1))
    ax2.set(xlabel="frequency k", ylabel=r"$\beta_m$", title="output magnitudes by frequency")
    fig.suptitle(title or "Phase symmetry and magnitude spread (Obs. 3)")
    return fig


def shade_stages(ax, bounds, end):
    """Shade the three grokking stages `[0, t1), [t1, t2), [t2, end]` on `ax`."""
    t1, t2 = bounds
    edges = [0, t1 if t1 is not None else end, t2 if t2 is not None else end, end]
    for i in range(3):
        if edges[i + 1] > edges[i]:
            ax.axvspan(edges[i], edges[i + 1], color=STAGE_COLORS[i], alpha=0.08, lw=0)


def plot_history(history: ff.History, stages=None, *, xscale: str = "linear", title=None):
    """Fig. 5: loss, accuracy, mean `|sin D|`, IPR and norm over training, stages shaded.

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
    xkw = {} if xscale == "linear" else dict(linthresh=1000)
    fig, axes = plt.subplots(1, 4, figsize=(19, 4), constrained_layout=True)
    axes[0].plot(s, h["train_loss"], label="train")
    axes[0].plot(s, h["test_loss"], label="test")
    axes[0].set(yscale="log", ylabel="cross-entropy", title="(a) loss")
    axes[1].plot(s, h["train_accuracy"], label="train")
    axes[1].plot(s, h["test_accuracy"], label="test")
    axes[1].set(ylabel="accuracy", title="(b) accuracy", ylim=(-0.02, 1.02))
    axes[2].plot(s, h["phase_alignment"], color="tab:purple", label=r"mean $|\sin D|$")
    axes[2].set(ylabel=r"mean $|\sin D^\star_m|$", title="(c) phase alignment")
    axes[3].plot(s, h["frequency_sparsity"], color="tab:brown", label="IPR")
    axes[3].set(ylabel="IPR", title="(d) frequency sparsity and norm")
    twin = axes[3].twinx()
    twin.plot(s, h["weight_norm"], color="tab:gray", label=r"$\ell_2$ norm")
    twin.set_ylabel(r"$\frac{1}{M}\sum_m \|\theta_m\| + \|\xi_m\|$")
    axes[3].legend(axes[3].get_lines() + twin.get_lines(), ["IPR", "norm"], loc="center right")
    for ax in axes:
        ax.set_xlabel("step")
        ax.set_xscale(xscale, **xkw)
        if stages is not None:
            shade_stages(ax, stages, s[-1])
        if ax is not axes[3]:
            ax.legend(loc="best")
    title = title or "Progress measures"
    if stages is not None:
        t1, t2 = stages
        title += (
            f"\nshaded: {STAGE_NAMES[0]} [0, {t1}), {STAGE_NAMES[1]} [{t1}, {t2}), "
            f"{STAGE_NAMES[2]} [{t2}, {s[-1]}]"
        )
    fig.suptitle(title)
    return fig


def plot_memorization(history: ff.History, stages=None, *, title=None):
    """Figs. 10-11 over time: accuracy on common and rare train pairs and on mirror-covered
    and unseen test pairs.

    **Arguments:**

    - `history`: a `History` of a split run; `stages`: `(t1, t2)` or `None`.
    - `title`: the figure title.

    **Returns:**

    The figure.
    """
    h = {k: np.asarray(v) for k, v in history.as_dict().items()}
    fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    for name, style in (("common", "-"), ("rare", "-"), ("mirror_covered", "--"), ("unseen", "--")):
        ax.plot(h["step"], h[f"{name}_accuracy"], style, label=name.replace("_", "-"))
    if stages is not None:
        shade_stages(ax, stages, h["step"][-1])
    ax.set_xscale("symlog", linthresh=1000)
    ax.set(xlabel="step (linear to 1000, then log)", ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.set_title(title or "Accuracy by symmetry class (common/rare train, mirror/unseen test)")
    ax.legend(loc="best")
    return fig


def plot_pair_heatmaps(net: ff.TwoLayerNet, split: ff.Split, *, title=None):
    """Fig. 10/11: the symmetry classes of the split, the accuracy per pair, and the softmax
    probability of the correct answer per pair.

    **Arguments:**

    - `net`: a network; `split`: its split; `title`: the figure title.

    **Returns:**

    The figure.
    """
    import jax

    p = net.p
    x, y = ff.all_pairs(p)
    f = net.logits(x, y)
    z = np.asarray((x + y) % p)
    prob = np.asarray(jax.nn.softmax(f, axis=-1))[np.arange(p * p), z].reshape(p, p)
    correct = (np.asarray(f).argmax(-1) == z).reshape(p, p)
    classes = (
        1 * np.asarray(split.common)
        + 2 * np.asarray(split.rare)
        + 3 * np.asarray(split.mirror_covered)
        + 4 * np.asarray(split.unseen)
    )
    fig, axes = plt.subplots(1, 3, figsize=(16, 5), constrained_layout=True)
    cmap = plt.matplotlib.colors.ListedColormap(["#08306b", "#9e9ac8", "#6baed6", "#ffffff"])
    axes[0].imshow(classes - 1, cmap=cmap, vmin=-0.5, vmax=3.5)
    handles = [
        plt.matplotlib.patches.Patch(facecolor=c, edgecolor="k", label=n)
        for c, n in zip(
            cmap.colors,
            ("common train", "rare train", "mirror-covered test", "unseen test"),
            strict=True,
        )
    ]
    axes[0].legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    axes[0].set_title("data by symmetry class")
    im1 = axes[1].imshow(correct, cmap="Greens", vmin=0, vmax=1)
    axes[1].set_title("correct (1) / wrong (0)")
    fig.colorbar(im1, ax=axes[1])
    im2 = axes[2].imshow(prob, cmap="viridis", vmin=0, vmax=1)
    axes[2].set_title("softmax probability of the answer")
    fig.colorbar(im2, ax=axes[2])
    unseen = np.argwhere(np.asarray(split.unseen))
    for ax in axes:
        ax.set(xlabel="y", ylabel="x")
        ax.plot(unseen[:, 1], unseen[:, 0], "s", mfc="none", mec="red", ms=4, mew=0.6)
    fig.suptitle(title or "Pairs by class, accuracy and confidence (unseen pairs in red)")
    return fig


def plot_dft_over_training(snapshots: ff.TwoLayerNet, steps, neurons=range(20), *, title=None):
    """Fig. 12: DFT magnitudes of `xi_m` for some neurons at several training steps.

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
    fig, axes = plt.subplots(
        1, T, figsize=(2.6 * T + 1, 0.25 * len(neurons) + 2), squeeze=False, constrained_layout=True
    )
    for t in range(T):
        spec = _spectrum_rows(np.asarray(snapshots.xi[t])[neurons])
        ax = axes[0, t]
        ax.imshow(spec / spec.max(), aspect="auto", cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks([0, K // 2, K], ["DC", str(K // 2), str(K)])
        ax.set(title=f"step {int(steps[t])}", xlabel="frequency k")
        ax.set_yticks(range(len(neurons)), [str(m) for m in neurons] if t == 0 else [])
        if t == 0:
            ax.set_ylabel("neuron m (by final frequency)")
    fig.suptitle(title or r"$|\hat\xi_m|$ over training (each panel scaled to its maximum)")
    return fig
