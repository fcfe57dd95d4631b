"""Figures of one neuron's initial-stage dynamics (paper Fig. 8 and Fig. 15): the exact flow,
the main flow and the per-frequency ODE overlaid, from a `fourierflow.Comparison`."""

from collections.abc import Mapping

import numpy as np
from matplotlib.lines import Line2D

from ._style import COLUMN_WIDTH, legend_top, new_figure, paper_figure, pi_axis

# The method is told by the line style, the quantity by the colour.
METHODS = {
    "exact": ("exact flow", dict(ls="-", lw=1.8)),
    "main": ("main flow", dict(ls="--", lw=1.2)),
    "reduced": ("per-frequency ODE", dict(ls=":", lw=1.4)),
}
INPUT, OUTPUT, DIFF, NEUTRAL = "tab:blue", "tab:red", "tab:purple", "0.25"


def _wrap(a):
    return np.pi - np.mod(np.pi - a, 2 * np.pi)


@paper_figure
def plot_flow_comparison(
    comparison,
    *,
    neuron: int = 0,
    t_align: Mapping[str, float | None] | None = None,
    scaled_time: bool = True,
    axes=None,
    title: str | None = None,
):
    """Fig. 8 / Fig. 15: phases, phase difference and magnitudes of one neuron over time.

    Six panels in three rows, sized for a paper column (3.5 x 5.4 in): (a) the phase
    difference on the unit circle, `exp(i D(t))` (paper Fig. 8a); (b) `D(t)`; (c) the phases
    `2 phi` and `psi` (unwrapped); (d) the magnitudes `alpha`, `beta` over `kappa`; (e) the gaps
    to the per-frequency ODE, `|beta / beta_ODE - 1|` and `|D - D_ODE|`; (f) the leak out of the
    neuron's frequency over `kappa` (both on log scales). Exact flow solid, main flow dashed,
    per-frequency ODE dotted; input-layer quantities (`alpha`, `2 phi`) blue, output-layer ones
    (`beta`, `psi`) red, `D` purple; one legend above the panels. Only the times reached by
    every method are drawn; the alignment times `t_delta` are grey vertical lines in the
    method's line style, labelled in panel (b).

    **Arguments:**

    - `comparison`: a `fourierflow.Comparison` (from `fourierflow.compare`).
    - `neuron`: which neuron (row) to draw.
    - `t_align`: `{method: t_delta}` alignment times to mark (any subset of the methods;
      `None` or non-finite values are skipped). Default: the comparison's own `t_aligned`;
      `{}` marks none.
    - `scaled_time`: plot against `tau = r kappa t` (`r = p` for "sum", `1/p` for "mean";
      `kappa` the initial `beta`), the parameter-free time of theory eq. (24); else against `t`.
    - `axes`: six `Axes` (or five: no leak panel) to draw into, else a new figure.
    - `title`: the figure title (wrapped to the width).

    **Returns:**

    The figure.
    """
    c = comparison
    valid = np.asarray(c.valid)
    ts = np.asarray(c.ts)[valid]
    kappa = float(np.asarray(c.exact.beta)[0, neuron])
    rate = c.p if c.reduction == "sum" else 1.0 / c.p
    scale = rate * kappa if scaled_time else 1.0
    x = ts * scale
    if not scaled_time:
        xlabel = "$t$"
    elif c.reduction == "mean":
        xlabel = r"$\tau = \kappa t / p$"
    else:
        xlabel = r"$\tau = p \kappa t$"
    if t_align is None:
        t_align = {m: float(np.asarray(t)) for m, t in c.t_aligned.items()}
    if axes is None:
        fig = new_figure(COLUMN_WIDTH, 5.4)
        axes = list(fig.subplots(3, 2).ravel())
    else:
        axes = list(np.ravel(axes))
        fig = axes[0].figure
    if len(axes) not in (5, 6):
        raise ValueError(f"`axes` must hold 5 or 6 Axes; got {len(axes)}.")
    ax_circle, ax_D, ax_phase, ax_mag, ax_gap = axes[:5]
    ax_leak = axes[5] if len(axes) == 6 else None

    theta = np.linspace(0, 2 * np.pi, 200)
    ax_circle.plot(np.cos(theta), np.sin(theta), color="0.85", lw=0.8)
    pick = lambda a: np.asarray(a)[valid, neuron]  # noqa: E731
    for method, (_, style) in METHODS.items():
        track = getattr(c, method)
        D, phi, psi = pick(track.D), pick(track.phi), pick(track.psi)
        alpha, beta = pick(track.alpha), pick(track.beta)
        ax_circle.plot(np.cos(D), np.sin(D), color=DIFF, **style)
        ax_D.plot(x, _wrap(D), color=DIFF, **style)
        # Unwrapped (continuous) phases, starting in (-pi, pi].
        two_phi = np.unwrap(2 * phi)
        two_phi += _wrap(two_phi[0]) - two_phi[0]
        psi_c = np.unwrap(psi)
        psi_c += _wrap(psi_c[0]) - psi_c[0]
        ax_phase.plot(x, two_phi, color=INPUT, **style)
        ax_phase.plot(x, psi_c, color=OUTPUT, **style)
        ax_mag.plot(x, alpha / kappa, color=INPUT, **style)
        ax_mag.plot(x, beta / kappa, color=OUTPUT, **style)
    for method in ("exact", "main"):
        style = METHODS[method][1]
        d = c.difference(method, "reduced")
        rel = np.abs(pick(d.beta) / pick(c.reduced.beta))
        ax_gap.plot(x, _positive(rel), color=OUTPUT, **style)
        ax_gap.plot(x, _positive(np.abs(pick(d.D))), color=DIFF, **style)
        if ax_leak is not None:
            leak = pick(getattr(c, f"leak_{method}")) / kappa
            ax_leak.plot(x, _positive(leak), color=NEUTRAL, **style)

    D0 = float(np.asarray(c.exact.D)[0, neuron])
    ax_circle.plot([np.cos(D0)], [np.sin(D0)], "o", color="tab:green", ms=4, zorder=4)
    ax_circle.annotate(
        "$D(0)$",
        (np.cos(D0), np.sin(D0)),
        xytext=(-2.0 * np.cos(D0), -1.2 * np.sin(D0)),
        textcoords="offset fontsize",
        ha="center",
        va="center",
    )
    ax_circle.plot([1], [0], "*", color="k", ms=7, zorder=4)
    ax_circle.annotate(
        "$D = 0$", (1, 0), xytext=(-0.2, -0.9), textcoords="offset fontsize", ha="right", va="top"
    )
    ax_circle.set(xlabel=r"$\cos D$", ylabel=r"$\sin D$", title=r"(a) $e^{iD}$")
    ax_circle.set_aspect("equal")
    ax_circle.set(xlim=(-1.25, 1.25), ylim=(-1.25, 1.25), xticks=[-1, 0, 1], yticks=[-1, 0, 1])
    ax_D.set(ylabel=r"$D = 2\phi - \psi$", title="(b) phase difference")
    pi_axis(ax_D.yaxis, np.pi / 4)
    ax_phase.set(ylabel="phase (rad)", title=r"(c) phases $2\phi$, $\psi$")
    pi_axis(ax_phase.yaxis, np.pi / 4)
    ax_mag.set(ylabel=r"magnitude / $\kappa$", title=r"(d) $\alpha/\kappa$, $\beta/\kappa$")
    ax_gap.set(yscale="log", ylabel="gap to the ODE", title="(e) gaps to the ODE")
    if ax_leak is not None:
        ax_leak.set(yscale="log", ylabel=r"leak / $\kappa$", title="(f) leak off frequency")
    time_axes = [ax_D, ax_phase, ax_mag, ax_gap] + ([ax_leak] if ax_leak is not None else [])
    for ax in time_axes:
        ax.set_xlabel(xlabel)
        ax.set_xlim(x[0], x[-1])

    marked = False
    event = r"\tau_\delta" if scaled_time else r"t_\delta"
    for method, t in t_align.items():
        if method not in METHODS or t is None or not np.isfinite(t):
            continue
        ls = METHODS[method][1]["ls"]
        for ax in time_axes:
            ax.axvline(t * scale, color="0.55", lw=0.8, ls=ls, zorder=0)
        if not marked:
            ax_D.annotate(
                f"${event}$",
                (t * scale, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(0.3, -0.3),
                textcoords="offset fontsize",
                va="top",
                color="0.3",
            )
            marked = True

    # Two columns: the methods (and the event) on the left, the quantities on the right.
    handles = [Line2D([], [], color=NEUTRAL, label=name, **s) for name, s in METHODS.values()]
    handles.append(
        Line2D([], [], color="0.55", lw=0.8, label=rf"${event}$: $|\sin D| = \delta$")
        if marked
        else Line2D([], [], alpha=0, label=" ")
    )
    handles += [
        Line2D([], [], color=INPUT, label=r"input $\alpha$, $2\phi$"),
        Line2D([], [], color=OUTPUT, label=r"output $\beta$, $\psi$"),
        Line2D([], [], color=DIFF, label=r"phase difference $D$"),
    ]
    legend_top(fig, handles, ncol=2, title=title)
    return fig


def _positive(a):
    """`a` with zeros (and negatives) as NaN, so a log axis skips them."""
    a = np.asarray(a, dtype=float)
    return np.where(a > 0, a, np.nan)
