"""Figures of the lottery among frequencies (paper Fig. 4, Lemma C.3, Cor 6.1) and of the
convergence-time collapse (Thm 5.3). Each function draws on a given `Axes` (or a new figure)
and returns the figure; inputs are plain arrays, so any sweep or solve can feed them."""

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np


def _axes(ax, ncols=1, figsize=(6, 4)):
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(1, ncols, figsize=figsize, constrained_layout=True)
    return fig, ax


def plot_racing(ts, beta, B, winner: int, *, frequencies=None, axes=None, title=None):
    """Fig. 4a: one neuron's frequencies racing.

    **Arguments:**

    - `ts`: `(T,)` times; `beta`: `(K, T)` output magnitudes; `B`: `(K, T)` misalignments.
    - `winner`: the index (0-based row) of the winning frequency, drawn thick.
    - `frequencies`: labels of the rows (default 1..K); `axes`: two `Axes` (else a new figure).
    - `title`: the figure title.

    **Returns:**

    The figure.
    """
    beta, B = np.asarray(beta), np.asarray(B)
    K = beta.shape[0]
    labels = np.arange(1, K + 1) if frequencies is None else np.asarray(frequencies)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    else:
        fig = axes[0].figure
    colors = plt.cm.viridis(np.linspace(0, 1, K))
    for k in range(K):
        style = (
            dict(color="crimson", lw=2.5, zorder=3)
            if k == winner
            else dict(color=colors[k], lw=0.8, alpha=0.7)
        )
        label = f"k={labels[k]} (winner)" if k == winner else None
        axes[0].plot(ts, beta[k], label=label, **style)
        axes[1].plot(ts, B[k], label=label, **style)
    axes[0].set(yscale="log", xlabel="t", ylabel=r"$\beta_k(t)$", title="magnitudes")
    axes[1].set(xlabel="t", ylabel=r"$B_k(t)$ (misalignment)", title="misalignments")
    axes[1].set_ylim(0, np.pi)
    for a in axes:
        a.legend(loc="best")
    if title:
        fig.suptitle(title)
    return fig


def plot_beta_contour(m0, B0, beta, *, grad_m=None, grad_B=None, t=None, ax=None, stride=4):
    """Fig. 4b: contour of beta at a fixed time over (initial magnitude, initial misalignment),
    with arrows of its sensitivity (gradient) when given.

    **Arguments:**

    - `m0`: `(nm,)` initial magnitudes; `B0`: `(nB,)` initial misalignments.
    - `beta`: `(nB, nm)` the magnitude at time `t`.
    - `grad_m`, `grad_B`: `(nB, nm)` partial derivatives of `log beta` (or beta) in `m0`, `B0`.
    - `t`: the time (for the title); `ax`: an `Axes`; `stride`: arrow thinning.

    **Returns:**

    The figure.
    """
    fig, ax = _axes(ax, figsize=(6.5, 5))
    M, Bg = np.meshgrid(np.asarray(m0), np.asarray(B0))
    levels = 20
    cs = ax.contourf(M, Bg, np.log10(np.asarray(beta)), levels=levels, cmap="magma")
    fig.colorbar(cs, ax=ax, label=r"$\log_{10} \beta(t)$")
    if grad_m is not None and grad_B is not None:
        gm, gB = np.asarray(grad_m), np.asarray(grad_B)
        norm = np.hypot(gm, gB) + 1e-300
        s = (slice(None, None, stride), slice(None, None, stride))
        ax.quiver(
            M[s],
            Bg[s],
            (gm / norm)[s],
            (gB / norm)[s],
            color="white",
            alpha=0.8,
            label=r"$\nabla \log\beta$ (direction)",
        )
        ax.legend(loc="upper right")
    ax.set(xlabel=r"initial magnitude $\kappa$", ylabel=r"initial misalignment $B_0$")
    ax.set_title(r"$\beta$ at fixed time" + ("" if t is None else f" t={t:.3g}"))
    return fig


def plot_dominance_scaling(ps: Sequence[int], stats: dict, *, ax=None):
    """Dominance time `p kappa t_eps` against `log p` (Cor 6.1).

    **Arguments:**

    - `ps`: the moduli; `stats`: `{eps: {"median": [...], "p90": [...]}}` one value per p.
    - `ax`: an `Axes`.

    **Returns:**

    The figure.
    """
    fig, ax = _axes(ax)
    logp = np.log(np.asarray(ps, dtype=float))
    for i, (eps, s) in enumerate(sorted(stats.items(), key=lambda kv: -float(kv[0]))):
        color = f"C{i}"
        ax.plot(logp, s["median"], "o-", color=color, label=f"median, eps={eps}")
        ax.plot(logp, s["p90"], "s--", color=color, label=f"90th pct, eps={eps}")
    ax.set(
        xlabel=r"$\log p$",
        ylabel=r"$p \kappa t_\varepsilon$",
        title="dominance time vs log p (multi-frequency neurons)",
    )
    ax.legend()
    return fig


def plot_collapse(D0, tau, delta, *, bound=None, ax=None, max_points=20000):
    """The scaling collapse `p kappa t_delta = T(D0, delta)` (Thm 5.3): all (p, kappa) fall
    on one curve per delta.

    **Arguments:**

    - `D0`: `(n,)` initial phase differences; `tau`: `(n,)` `p kappa t_delta`;
      `delta`: `(n,)` tolerances.
    - `bound`: optional `(n,)` the paper's bound form (times p kappa), drawn as lines.
    - `ax`: an `Axes`; `max_points`: thinning for the scatter.

    **Returns:**

    The figure.
    """
    fig, ax = _axes(ax, figsize=(7, 4.5))
    D0, tau, delta = (np.asarray(a, dtype=float) for a in (D0, tau, delta))
    B0 = np.abs(np.angle(np.exp(1j * D0)))
    rng = np.random.default_rng(0)
    for i, d in enumerate(np.unique(delta)[::-1]):
        idx = np.flatnonzero((delta == d) & np.isfinite(tau))
        if idx.size > max_points:
            idx = rng.choice(idx, max_points, replace=False)
        ax.scatter(B0[idx], tau[idx], s=1, alpha=0.4, color=f"C{i}", label=f"delta={d:g}")
        if bound is not None:
            o = idx[np.argsort(B0[idx])]
            ax.plot(B0[o], np.asarray(bound)[o], color=f"C{i}", lw=1, ls="--")
    ax.set(
        xlabel=r"initial misalignment $B_0 = |D_0|$",
        ylabel=r"$p\kappa t_\delta$",
        yscale="log",
        title=r"collapse: $p\kappa t_\delta = T(D_0, \delta)$ (dashed: bound form)",
    )
    ax.legend(markerscale=8)
    return fig


def plot_ratio_band(D0, ratio, delta, *, ax=None, bins=60):
    """The ratio `t_delta / bound` against the initial misalignment: min, max per bin.

    **Arguments:**

    - `D0`, `ratio`, `delta`: `(n,)` arrays; `ax`: an `Axes`; `bins`: bins in `B0`.

    **Returns:**

    The figure.
    """
    fig, ax = _axes(ax, figsize=(7, 4.5))
    B0 = np.abs(np.angle(np.exp(1j * np.asarray(D0, dtype=float))))
    ratio, delta = np.asarray(ratio, dtype=float), np.asarray(delta, dtype=float)
    edges = np.linspace(0, np.pi, bins + 1)
    mids = (edges[1:] + edges[:-1]) / 2
    for i, d in enumerate(np.unique(delta)[::-1]):
        sel = (delta == d) & np.isfinite(ratio)
        which = np.digitize(B0[sel], edges) - 1
        lo = np.array(
            [ratio[sel][which == b].min() if np.any(which == b) else np.nan for b in range(bins)]
        )
        hi = np.array(
            [ratio[sel][which == b].max() if np.any(which == b) else np.nan for b in range(bins)]
        )
        ax.fill_between(mids, lo, hi, color=f"C{i}", alpha=0.35, label=f"delta={d:g}")
    ax.set(
        xlabel=r"$B_0$",
        ylabel=r"$t_\delta$ / bound",
        yscale="log",
        title="band of t_delta / (paper's bound form) per bin of B0",
    )
    ax.legend()
    return fig


def plot_histogram(values, *, reference=None, xlabel="", title="", ax=None, bins=50):
    """A density histogram, with an optional reference density `(x, y)` drawn as a line.

    **Arguments:**

    - `values`: the samples; `reference`: `None` or `(x, y)` of a density to overlay.
    - `xlabel`, `title`: labels; `ax`: an axes to draw into (else a new figure); `bins`.

    **Returns:**

    The figure.
    """
    fig, ax = _axes(ax)
    ax.hist(np.asarray(values), bins=bins, density=True, alpha=0.6, label="measured")
    if reference is not None:
        ax.plot(*reference, "k--", label="reference")
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.legend()
    return fig
