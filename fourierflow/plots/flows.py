"""Figures of one neuron's initial-stage dynamics (paper Fig. 8 and Fig. 15): the exact flow,
the main flow and the reduced ODE overlaid, from a `fourierflow.Comparison`."""

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

_STYLES = {
    "exact": dict(color="black", lw=2.2, ls="-"),
    "main": dict(color="tab:orange", lw=1.6, ls="--"),
    "reduced": dict(color="tab:blue", lw=1.4, ls=":"),
}


def plot_flow_comparison(
    comparison,
    *,
    neuron: int = 0,
    t_align: Mapping[str, float] | None = None,
    scaled_time: bool = True,
    axes=None,
    title: str | None = None,
):
    """Fig. 8 / Fig. 15: phases, phase difference and magnitudes of one neuron over time.

    Five panels: (a) the phase difference on the unit circle, `exp(i D(t))` (paper Fig. 8a);
    (b) the phases `2 phi` and `psi` (wrapped to (-pi, pi]); (c) `D(t)`; (d) the magnitudes
    `alpha`, `beta` over `kappa`; (e) the gaps to the reduced ODE, `|beta / beta_red - 1|` and
    `|D - D_red|`, on a log scale. Exact flow solid, main flow dashed, reduced ODE dotted; only
    the times reached by every method are drawn; alignment times are vertical lines.

    **Arguments:**

    - `comparison`: a `fourierflow.Comparison` (from `fourierflow.compare`).
    - `neuron`: which neuron (row) to draw.
    - `t_align`: `{method: t_delta}` alignment times to mark (any subset of the methods).
    - `scaled_time`: plot against `tau = r kappa t` (`r = p` for "sum", `1/p` for "mean";
      `kappa` the initial `beta`), the parameter-free time of SPEC 8; else against `t`.
    - `axes`: five `Axes` (else a new figure); `title`: the figure title.

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
    xlabel = r"$\tau = p\,\kappa\,t$" if scaled_time else "t"
    if c.reduction == "mean" and scaled_time:
        xlabel = r"$\tau = \kappa\,t / p$"
    if axes is None:
        fig, axes = plt.subplots(1, 5, figsize=(22, 4.2), constrained_layout=True)
    else:
        fig = axes[0].figure
    ax_circle, ax_phase, ax_D, ax_mag, ax_err = axes

    theta = np.linspace(0, 2 * np.pi, 200)
    ax_circle.plot(np.cos(theta), np.sin(theta), color="0.85", lw=1)
    for method, style in _STYLES.items():
        track = getattr(c, method)
        pick = lambda a: np.asarray(a)[valid, neuron]  # noqa: E731
        D, phi, psi = pick(track.D), pick(track.phi), pick(track.psi)
        alpha, beta = pick(track.alpha), pick(track.beta)
        wrap = lambda a: np.pi - np.mod(np.pi - a, 2 * np.pi)  # noqa: E731
        ax_circle.plot(np.cos(D), np.sin(D), label=method, **style)
        ax_phase.plot(x, wrap(2 * phi), label=rf"$2\phi$ ({method})", **style)
        ax_phase.plot(x, wrap(psi), label=rf"$\psi$ ({method})", **{**style, "color": "tab:red"})
        ax_D.plot(x, wrap(D), label=method, **style)
        ax_mag.plot(x, alpha / kappa, label=rf"$\alpha$ ({method})", **style)
        ax_mag.plot(x, beta / kappa, label=rf"$\beta$ ({method})", **{**style, "color": "tab:red"})
    for method in ("exact", "main"):
        d = c.difference(method, "reduced")
        ref = np.asarray(c.reduced.beta)[valid, neuron]
        rel = np.abs(np.asarray(d.beta)[valid, neuron] / ref)
        ax_err.semilogy(x, rel, label=rf"$|\beta/\beta_{{red}} - 1|$ ({method})", **_STYLES[method])
        ax_err.semilogy(
            x,
            np.abs(np.asarray(d.D)[valid, neuron]),
            label=rf"$|D - D_{{red}}|$ ({method})",
            **{**_STYLES[method], "color": "tab:purple" if method == "exact" else "tab:olive"},
        )
    ax_err.set(xlabel=xlabel, ylabel="gap to the reduced ODE", title="(e) gaps (log scale)")
    D0 = float(np.asarray(c.exact.D)[0, neuron])
    ax_circle.plot([np.cos(D0)], [np.sin(D0)], "o", color="tab:green", label=r"$D(0)$")
    ax_circle.plot([1], [0], "*", color="crimson", ms=12, label="D = 0 (aligned)")
    ax_circle.set(
        xlabel=r"$\cos D$", ylabel=r"$\sin D$", title=r"(a) $e^{iD(t)}$ on the unit circle"
    )
    ax_circle.set_aspect("equal")
    ax_phase.set(xlabel=xlabel, ylabel="phase (rad)", title=r"(b) phases $2\phi$, $\psi$")
    ax_D.set(xlabel=xlabel, ylabel=r"$D = 2\phi - \psi$ (wrapped)", title="(c) phase difference")
    ax_D.axhline(0, color="0.6", lw=0.8)
    ax_mag.set(
        xlabel=xlabel, ylabel=r"magnitude / $\kappa$", title=r"(d) magnitudes $\alpha$, $\beta$"
    )
    colors = {"exact": "black", "main": "tab:orange", "reduced": "tab:blue"}
    for method, t in (t_align or {}).items():
        if t is None or not np.isfinite(t):
            continue
        for ax in (ax_phase, ax_D, ax_mag):
            ax.axvline(
                t * scale,
                color=colors.get(method, "tab:green"),
                lw=0.9,
                ls="-.",
                label=rf"$t_\delta$ ({method})" if ax is ax_D else None,
            )
    for ax in axes:
        ax.legend(loc="best", fontsize=7)
    if title:
        fig.suptitle(title)
    return fig
