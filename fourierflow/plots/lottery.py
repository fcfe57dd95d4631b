"""Figures of the lottery among frequencies (paper Fig. 4, Lemma C.3, Cor 6.1) and of the
convergence-time collapse (Thm 5.3). Each function draws on a given `Axes` (or a new figure of
a paper column's width) and returns the figure; inputs are plain arrays, so any sweep or solve
can feed them. Single-panel figures carry their title and legend above the axes, outside
the data."""

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ._style import COLUMN_WIDTH, legend_above, legend_top, new_figure, paper_figure, pi_axis

WINNER = "crimson"


def _axes(ax, height=2.6, width=COLUMN_WIDTH):
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(width, height)
    return fig, fig.subplots()


def _misalignment(D0):
    return np.abs(np.angle(np.exp(1j * np.asarray(D0, dtype=float))))


def _time_axis(ts, p, kappa, reduction):
    ts = np.asarray(ts, dtype=float)
    if p is None or kappa is None:
        return ts, "$t$", 1.0
    if reduction == "mean":
        return ts * kappa / p, r"$\tau = \kappa t / p$", kappa
    return ts * p * kappa, r"$\tau = p \kappa t$", kappa


@paper_figure
def plot_racing(
    ts,
    beta,
    B,
    winner: int,
    *,
    frequencies=None,
    p: int | None = None,
    kappa: float | None = None,
    reduction: str = "sum",
    axes=None,
    title=None,
):
    """Fig. 4a: one neuron's frequencies racing.

    Two stacked panels (a paper column, 3.5 x 3.6 in): the output magnitudes `beta_k` (log
    scale) and the misalignments `B_k` over time. Every frequency is coloured by the rank of
    its initial misalignment `B_k(0)` (dark: smallest) and named on the colour bar, in that
    order; the winner is the thick red line.

    **Arguments:**

    - `ts`: `(T,)` times; `beta`: `(K, T)` output magnitudes; `B`: `(K, T)` misalignments.
    - `winner`: the index (0-based row) of the winning frequency.
    - `frequencies`: labels of the rows (default 1..K).
    - `p`, `kappa`, `reduction`: when `p` and `kappa` (the initial magnitude) are given, time
      is the scaled `tau = p kappa t` (`kappa t / p` for the "mean" reduction) and the
      magnitudes are over `kappa`; else `t` and `beta`.
    - `axes`: two `Axes` (else a new figure); `title`: the figure title.

    **Returns:**

    The figure.
    """
    beta, B = np.asarray(beta, dtype=float), np.asarray(B, dtype=float)
    K = beta.shape[0]
    labels = np.arange(1, K + 1) if frequencies is None else np.asarray(frequencies)
    x, xlabel, unit = _time_axis(ts, p, kappa, reduction)
    if axes is None:
        fig = new_figure(COLUMN_WIDTH, 3.6)
        axes = fig.subplots(2, 1, sharex=True)
    else:
        fig = axes[0].figure
    order = np.argsort(B[:, 0], kind="stable")
    rank = np.empty(K, int)
    rank[order] = np.arange(K)
    colors = mpl.colormaps["viridis"](np.linspace(0.0, 0.88, K))
    colors[rank[winner]] = mpl.colors.to_rgba(WINNER)
    for k in range(K):
        style = (
            dict(lw=2.2, zorder=3) if k == winner else dict(lw=0.9, zorder=2 + (K - rank[k]) / K)
        )
        axes[0].plot(x, beta[k] / unit, color=colors[rank[k]], **style)
        axes[1].plot(x, B[k], color=colors[rank[k]], **style)
    axes[0].set(yscale="log", ylabel=r"$\beta_k / \kappa$" if unit != 1.0 else r"$\beta_k$")
    axes[1].set(xlabel=xlabel, ylabel=r"misalignment $B_k$", ylim=(0, np.pi))
    axes[1].set_xlim(x[0], x[-1])
    pi_axis(axes[1].yaxis, np.pi / 2)
    cmap = mpl.colors.ListedColormap(colors)
    norm = mpl.colors.BoundaryNorm(np.arange(K + 1) - 0.5, K)
    cbar = fig.colorbar(
        mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), aspect=30, pad=0.02
    )
    cbar.set_ticks(np.arange(K), labels=[str(labels[k]) for k in order])
    cbar.ax.invert_yaxis()
    cbar.ax.tick_params(length=0)
    cbar.set_label(r"frequency $k$ (top: smallest $B_k(0)$)")
    handles = [
        Line2D([], [], color=WINNER, lw=2.2, label=f"winner, $k = {labels[winner]}$"),
        Line2D([], [], color=colors[-1], lw=0.9, label=r"others (colour: rank of $B_k(0)$)"),
    ]
    legend_top(fig, handles, title=title)
    return fig


@paper_figure
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
    fig, ax = _axes(ax, height=3.0)
    M, Bg = np.meshgrid(np.asarray(m0), np.asarray(B0))
    cs = ax.contourf(M, Bg, np.log10(np.asarray(beta)), levels=20, cmap="magma")
    fig.colorbar(cs, ax=ax, label=r"$\log_{10} \beta(t)$")
    handles = []
    if grad_m is not None and grad_B is not None:
        gm, gB = np.asarray(grad_m), np.asarray(grad_B)
        norm = np.hypot(gm, gB) + 1e-300
        s = (slice(None, None, stride), slice(None, None, stride))
        ax.quiver(
            M[s], Bg[s], (gm / norm)[s], (gB / norm)[s], color="white", edgecolor="0.2", lw=0.3
        )
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker=r"$\rightarrow$",
                ms=9,
                color="0.2",
                label=r"direction of $\nabla \log\beta$",
            )
        )
    ax.set(xlabel=r"initial magnitude $\kappa$", ylabel=r"initial misalignment $B_0$")
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
    pi_axis(ax.yaxis, np.pi / 4)
    title = r"$\beta$ at a fixed time" + ("" if t is None else f" $t = {t:.3g}$")
    if handles:
        legend_above(ax, handles, title=title)
    else:
        ax.set_title(title)
    return fig


@paper_figure
def plot_dominance_scaling(ps: Sequence[int], stats: dict, *, ax=None):
    """Dominance time `p kappa t_eps` against `p` on a log axis (Cor 6.1: linear in log p).

    **Arguments:**

    - `ps`: the moduli; `stats`: `{eps: {"median": [...], "p90": [...]}}` one value per p.
    - `ax`: an `Axes`.

    **Returns:**

    The figure.
    """
    fig, ax = _axes(ax)
    ps = np.asarray(ps, dtype=float)
    for i, (eps, s) in enumerate(sorted(stats.items(), key=lambda kv: -float(kv[0]))):
        color = f"C{i}"
        ax.plot(ps, s["median"], "o-", color=color, label=rf"median, $\varepsilon = {eps}$")
        ax.plot(ps, s["p90"], "s--", color=color, label=rf"90th pct., $\varepsilon = {eps}$")
    ax.set_xscale("log")
    ax.set_xticks(ps, [str(int(q)) for q in ps])
    ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
    ax.set(xlabel=r"$p$ (log scale)", ylabel=r"$\tau_\varepsilon = p \kappa t_\varepsilon$")
    legend_above(ax, ncol=2, title="dominance time of multi-frequency neurons")
    return fig


@paper_figure
def plot_collapse(D0, tau, delta, *, bound=None, ax=None, max_points=20000):
    """The scaling collapse `p kappa t_delta = T(D0, delta)` (Thm 5.3): all (p, kappa) fall
    on one curve per delta.

    **Arguments:**

    - `D0`: `(n,)` initial phase differences; `tau`: `(n,)` `p kappa t_delta`;
      `delta`: `(n,)` tolerances.
    - `bound`: optional `(n,)` the paper's bound form (times p kappa), drawn as dashed lines.
    - `ax`: an `Axes`; `max_points`: thinning for the scatter (drawn rasterized, so PDF and
      SVG stay small).

    **Returns:**

    The figure.
    """
    fig, ax = _axes(ax, height=2.8)
    D0, tau, delta = (np.asarray(a, dtype=float) for a in (D0, tau, delta))
    B0 = _misalignment(D0)
    rng = np.random.default_rng(0)
    handles = []
    for i, d in enumerate(np.unique(delta)[::-1]):
        idx = np.flatnonzero((delta == d) & np.isfinite(tau))
        if idx.size > max_points:
            idx = rng.choice(idx, max_points, replace=False)
        ax.scatter(B0[idx], tau[idx], s=1, alpha=0.4, color=f"C{i}", lw=0, rasterized=True)
        handles.append(
            Line2D([], [], ls="", marker="o", ms=4, color=f"C{i}", label=rf"$\delta = {d:g}$")
        )
        if bound is not None:
            o = idx[np.argsort(B0[idx])]
            ax.plot(B0[o], np.asarray(bound)[o], color=f"C{i}", lw=0.9, ls="--")
    if bound is not None:
        handles.append(Line2D([], [], color="0.3", lw=0.9, ls="--", label="Thm 5.3 bound form"))
    ax.set(
        xlabel=r"initial misalignment $B_0 = |D_0|$",
        ylabel=r"$\tau_\delta = p \kappa t_\delta$",
        yscale="log",
        xlim=(0, np.pi),
    )
    pi_axis(ax.xaxis, np.pi / 4)
    legend_above(
        ax,
        handles,
        ncol=2,
        title=r"collapse: $p \kappa t_\delta = T(D_0, \delta)$ for every $p$, $\kappa$",
    )
    return fig


@paper_figure
def plot_collapse_check(p_kappa, ratio, delta, *, rtol: float | None = None, ax=None):
    """The collapse checked in the ODE's own variables (Thm 5.3): the relative deviation
    `|tau / T(D0, delta) - 1|` of independently solved alignment times from the collapse
    curve, against `p kappa`, on a log axis (a deviation of 0 is drawn at the float64
    resolution).

    **Arguments:**

    - `p_kappa`: `(n,)` the product `p kappa` of each element.
    - `ratio`: `(n,)` `tau / T(D0, delta)` (1 where the collapse holds).
    - `delta`: `(n,)` tolerances.
    - `rtol`: the solver's relative tolerance, drawn as a reference line when given.
    - `ax`: an `Axes`.

    **Returns:**

    The figure.
    """
    fig, ax = _axes(ax, height=2.6)
    pk, ratio, delta = (np.asarray(a, dtype=float) for a in (p_kappa, ratio, delta))
    floor = np.finfo(float).eps
    dev = np.abs(ratio - 1)
    zero = dev < floor
    handles = []
    for i, d in enumerate(np.unique(delta)[::-1]):
        sel = (delta == d) & np.isfinite(dev)
        ax.scatter(pk[sel & ~zero], dev[sel & ~zero], s=4, color=f"C{i}", lw=0, rasterized=True)
        n_zero = int(np.sum(sel & zero))
        ax.scatter(pk[sel & zero], np.full(n_zero, floor), s=8, marker="v", color=f"C{i}", lw=0)
        handles.append(
            Line2D([], [], ls="", marker="o", ms=4, color=f"C{i}", label=rf"$\delta = {d:g}$")
        )
    if rtol is not None:
        ax.axhline(rtol, color="0.3", ls=":", lw=1.0)
        handles.append(Line2D([], [], color="0.3", ls=":", label=f"solver rtol = {rtol:g}"))
    if zero.any():
        handles.append(
            Line2D([], [], ls="", marker="v", ms=4, color="0.3", label="0 (drawn at 2.2e-16)")
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=r"$p \kappa$",
        ylabel=r"$|\tau_\delta / T(D_0, \delta) - 1|$",
    )
    legend_above(ax, handles, ncol=2, title="collapse check: raw ODE in unscaled time")
    return fig


@paper_figure
def plot_ratio_band(D0, ratio, delta, *, ax=None, bins=60):
    """The ratio `t_delta / bound` against the initial misalignment: min, max per bin.

    **Arguments:**

    - `D0`, `ratio`, `delta`: `(n,)` arrays; `ax`: an `Axes`; `bins`: bins in `B0`.

    **Returns:**

    The figure.
    """
    fig, ax = _axes(ax, height=2.6)
    B0 = _misalignment(D0)
    ratio, delta = np.asarray(ratio, dtype=float), np.asarray(delta, dtype=float)
    edges = np.linspace(0, np.pi, bins + 1)
    mids = (edges[1:] + edges[:-1]) / 2
    for i, d in enumerate(np.unique(delta)[::-1]):
        sel = (delta == d) & np.isfinite(ratio)
        which = np.digitize(B0[sel], edges) - 1
        r = ratio[sel]
        lo = np.array([r[which == b].min() if np.any(which == b) else np.nan for b in range(bins)])
        hi = np.array([r[which == b].max() if np.any(which == b) else np.nan for b in range(bins)])
        ax.fill_between(mids, lo, hi, color=f"C{i}", alpha=0.4, lw=0, label=rf"$\delta = {d:g}$")
    ax.set(
        xlabel=r"initial misalignment $B_0$",
        ylabel=r"$t_\delta$ / bound",
        yscale="log",
        xlim=(0, np.pi),
    )
    pi_axis(ax.xaxis, np.pi / 4)
    legend_above(ax, title=r"$t_\delta$ / (Thm 5.3 bound form): min to max per bin of $B_0$")
    return fig


@paper_figure
def plot_histogram(
    values,
    *,
    reference=None,
    reference_label: str = "reference",
    xlabel="",
    title="",
    ax=None,
    bins=50,
):
    """A density histogram, with an optional reference density `(x, y)` drawn as a line.

    **Arguments:**

    - `values`: the samples; `reference`: `None` or `(x, y)` of a density to overlay.
    - `reference_label`: the reference's name in the legend (e.g. "uniform density").
    - `xlabel`, `title`: labels; `ax`: an axes to draw into (else a new figure); `bins`.

    **Returns:**

    The figure.
    """
    fig, ax = _axes(ax, height=2.4)
    ax.hist(np.asarray(values), bins=bins, density=True, color="C0", alpha=0.6, label="measured")
    if reference is not None:
        ax.plot(*reference, "k--", lw=1.0, label=reference_label)
    ax.set(xlabel=xlabel, ylabel="density")
    legend_above(ax, title=title or None)
    return fig


@paper_figure
def plot_mean_field(phi, psi, *, max_points: int = 3000):
    """The mean-field claim at alignment: the phases `phi` are uniform on the circle and
    `psi = 2 phi (mod 2pi)`. Two panels (a paper column, 3.5 x 2.2 in): the density of `phi`
    against the uniform density `1/(2 pi)`, and `psi` against `phi` with the line `psi = 2 phi`.

    **Arguments:**

    - `phi`, `psi`: `(n,)` input and output phases at the alignment time.
    - `max_points`: at most this many points in the scatter.

    **Returns:**

    The figure.
    """
    phi = np.mod(np.asarray(phi, dtype=float), 2 * np.pi)
    psi = np.mod(np.asarray(psi, dtype=float), 2 * np.pi)
    fig = new_figure(COLUMN_WIDTH, 2.2)
    ax_h, ax_s = fig.subplots(1, 2)
    ax_h.hist(phi, bins=40, range=(0, 2 * np.pi), density=True, color="C0", alpha=0.6)
    ax_h.axhline(1 / (2 * np.pi), color="k", ls="--", lw=1.0)
    ax_h.set(xlabel=r"$\phi(t_\delta)$", ylabel="density", xlim=(0, 2 * np.pi))
    ax_s.scatter(phi[:max_points], psi[:max_points], s=1, color="C0", lw=0, rasterized=True)
    # psi = 2 phi mod 2pi is two segments; a NaN breaks the line at the wrap.
    xs = np.array([0, np.pi, np.nan, np.pi, 2 * np.pi])
    ax_s.plot(xs, np.array([0, 2 * np.pi, np.nan, 0, 2 * np.pi]), color="crimson", lw=0.9)
    ax_s.set(xlabel=r"$\phi(t_\delta)$", ylabel=r"$\psi(t_\delta)$")
    ax_s.set(xlim=(0, 2 * np.pi), ylim=(0, 2 * np.pi))
    for ax in (ax_h, ax_s):
        pi_axis(ax.xaxis, np.pi)
    pi_axis(ax_s.yaxis, np.pi)
    handles = [
        Patch(color="C0", alpha=0.6, label="neurons"),
        Line2D([], [], color="k", ls="--", lw=1.0, label=r"uniform density $1/(2\pi)$"),
        Line2D([], [], color="crimson", lw=0.9, label=r"$\psi = 2\phi$ (mod $2\pi$)"),
    ]
    legend_top(fig, handles, ncol=3)
    return fig
