"""Thm 5.2 in numbers: the exact gradient flow tracks the reduced ODE with an error that vanishes
as kappa -> 0, and the energy outside each neuron's frequency stays o(kappa).

Setup: p=23, two single-frequency neurons at frequency 2 with `alpha0 = beta0 = kappa` and the
reference code's initial phases `(phi, psi) = (1.5, 0.18)` (D0 = 2.82) and `(-0.72, -2.91)`
(D0 = 1.47); `reduction="sum"`; `fourierflow.compare` for kappa in {1e-2, 3e-3, 1e-3, 3e-4}.

Error metric (stated in results.json): on the common scaled-time window
`tau = p kappa t in [0, tau_cut]`, where `tau_cut` is the smallest scaled stop time over all
kappas of the solves that end at the initial stage's end `max |weights| = c_end_over_kappa *
kappa` (the same scaled time for every kappa by theory eq. (24)'s scaling), over both neurons:
`max |beta_exact / beta_reduced - 1|` (also alpha), `max |D_exact - D_reduced|` (wrapped), the
same for exact vs main, and `max leak / kappa` (the size of everything outside the neuron's
frequency, `Comparison.leak_exact`). The fitted order is the slope of log(error) vs log(kappa).

Run `python experiments/kappa_error_table.py [--key value ...]`; writes
`out/kappa_error_table/{results.json, table.md, errors.png}`.
"""

import dataclasses
import os

import diffrax as dfx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import fourierflow as ff
from fourierflow.experiments._result import ExperimentResult
from fourierflow.plots import save_figure

PHI = (1.5, -0.72)
PSI = (0.18, -2.91)


@dataclasses.dataclass(frozen=True, kw_only=True)
class KappaErrorRow:
    """Errors at one `kappa` over the common scaled window: `beta_exact_vs_reduced` (max
    relative), `D_exact_vs_reduced` (max absolute), `beta_main_vs_reduced`, and the exact
    flow's off-frequency leak over `kappa`."""

    kappa: float
    beta_exact_vs_reduced: float
    D_exact_vs_reduced: float
    beta_main_vs_reduced: float
    leak_over_kappa: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class KappaErrorTable(ExperimentResult):
    """Thm 5.2 in numbers: one `KappaErrorRow` per kappa and the orders fitted in kappa
    (slopes of log error against log kappa over every row) of the beta and D errors and of
    the leak."""

    rows: tuple[KappaErrorRow, ...]
    order_beta: float
    order_D: float
    order_leak: float
    tau_cut: float


def single_frequency_net(p, k, kappa, phi, psi):
    """Neurons `kappa cos(w_k j + phi_m)`, `kappa cos(w_k j + psi_m)` (Assumption 5.1)."""
    K = (p - 1) // 2
    phi, psi = jnp.asarray(phi), jnp.asarray(psi)
    mag = jnp.broadcast_to(jnp.where(jnp.arange(1, K + 1) == k, kappa, 0.0), (phi.size, K))
    theta = ff.from_polar(mag, jnp.broadcast_to(phi[:, None], mag.shape))
    xi = ff.from_polar(mag, jnp.broadcast_to(psi[:, None], mag.shape))
    return ff.TwoLayerNet(theta, xi, "quad")


def main(
    out: str = "out/kappa_error_table",
    p: int = 23,
    k: int = 2,
    kappas: tuple[float, ...] = (1e-2, 3e-3, 1e-3, 3e-4),
    c_end_over_kappa: float = 3.0,
    n_times: int = 200,
    rtol: float = 1e-13,
    formats: tuple[str, ...] = ("png",),
):
    """Measure exact-vs-reduced (and exact-vs-main) errors against kappa and fit their order.

    **Arguments:**

    - `out`: output folder; `p`, `k`: modulus and the neurons' frequency.
    - `kappas`: initial magnitudes; `c_end_over_kappa`: end of the initial stage in units of
      kappa; `n_times`: save times; `rtol`: solver tolerance (tight: the errors reach 1e-10).
    """
    jax.config.update("jax_enable_x64", True)
    os.makedirs(out, exist_ok=True)
    D0 = np.asarray(ff.phase_difference(jnp.asarray(PHI), jnp.asarray(PSI)))
    tau_star = float(np.min(ff.blowup_time(1.0, 1.0, D0, p) * p))  # scale-free (theory eq. (24))
    tau = np.linspace(0.0, 0.99 * tau_star, n_times)
    comparisons = []
    for kappa in kappas:
        net0 = single_frequency_net(p, k, kappa, PHI, PSI)
        ts = jnp.asarray(tau / (p * kappa))
        controller = dfx.PIDController(rtol=rtol, atol=1e-3 * rtol * kappa)
        c = ff.compare(net0, ts, c_end=c_end_over_kappa * kappa, stepsize_controller=controller)
        comparisons.append(c)
        print(f"kappa={kappa:g}: scaled stop exact {p * kappa * float(c.t_stop['exact']):.6f}")
    tau_cut = min(
        p * kappa * float(min(c.t_stop["exact"], c.t_stop["main"]))
        for kappa, c in zip(kappas, comparisons, strict=True)
    )
    mask = jnp.asarray(tau <= tau_cut)[:, None]

    def err(c, a, b, kappa):
        d, ref = c.difference(a, b), getattr(c, b)
        rel = lambda x, r: float(jnp.max(jnp.where(mask, jnp.abs(x / r), 0.0)))  # noqa: E731
        return dict(
            alpha=rel(d.alpha, ref.alpha),
            beta=rel(d.beta, ref.beta),
            D=float(jnp.max(jnp.where(mask, jnp.abs(d.D), 0.0))),
        )

    rows = []
    for kappa, c in zip(kappas, comparisons, strict=True):
        rows.append(
            dict(
                kappa=kappa,
                exact_vs_reduced=err(c, "exact", "reduced", kappa),
                exact_vs_main=err(c, "exact", "main", kappa),
                main_vs_reduced=err(c, "main", "reduced", kappa),
                leak_over_kappa=float(jnp.max(jnp.where(mask, c.leak_exact, 0.0)) / kappa),
            )
        )
    logk = np.log(np.asarray(kappas))

    def order(get):
        return float(np.polyfit(logk, np.log([get(r) for r in rows]), 1)[0])

    orders = dict(
        exact_vs_reduced_beta=order(lambda r: r["exact_vs_reduced"]["beta"]),
        exact_vs_reduced_alpha=order(lambda r: r["exact_vs_reduced"]["alpha"]),
        exact_vs_reduced_D=order(lambda r: r["exact_vs_reduced"]["D"]),
        exact_vs_main_beta=order(lambda r: r["exact_vs_main"]["beta"]),
        leak_over_kappa=order(lambda r: r["leak_over_kappa"]),
    )
    results = dict(
        p=p,
        k=k,
        phases=dict(phi=PHI, psi=PSI, D0=D0.tolist()),
        reduction="sum",
        c_end_over_kappa=c_end_over_kappa,
        rtol=rtol,
        tau_cut=tau_cut,
        metric=(
            "over tau = p*kappa*t in [0, tau_cut] (common scaled window before the end of the "
            "initial stage) and both neurons: max |beta_a/beta_b - 1|, max |alpha_a/alpha_b - 1|,"
            " max |D_a - D_b| (wrapped); leak = sqrt(sum_{k != k_m} alpha_k^2 + beta_k^2 + "
            "(2/p) DC^2) of the exact flow, divided by kappa"
        ),
        rows=rows,
        fitted_orders=orders,
    )
    ff.write_json(os.path.join(out, "results.json"), results)

    lines = [
        f"p={p}, k={k}, two neurons (D0 = {D0[0]:.2f}, {D0[1]:.2f}), tau <= {tau_cut:.4f}",
        "",
        "| kappa | beta rel. err (exact vs reduced) | D abs. err | exact vs main (beta) "
        "| main vs reduced (beta) | leak / kappa |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kappa']:g} | {r['exact_vs_reduced']['beta']:.3e} | "
            f"{r['exact_vs_reduced']['D']:.3e} | {r['exact_vs_main']['beta']:.3e} | "
            f"{r['main_vs_reduced']['beta']:.3e} | {r['leak_over_kappa']:.3e} |"
        )
    lines.append(
        "| fitted order | "
        f"{orders['exact_vs_reduced_beta']:.2f} | {orders['exact_vs_reduced_D']:.2f} | "
        f"{orders['exact_vs_main_beta']:.2f} | - | {orders['leak_over_kappa']:.2f} |"
    )
    table = "\n".join(lines)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table + "\n")
    print(table)

    fig, ax = plt.subplots(figsize=(6, 4.5), constrained_layout=True)
    ks = np.asarray(kappas)
    series = {
        r"$\beta$ rel. err, exact vs reduced": [r["exact_vs_reduced"]["beta"] for r in rows],
        r"$D$ abs. err, exact vs reduced": [r["exact_vs_reduced"]["D"] for r in rows],
        r"leak / $\kappa$ (exact)": [r["leak_over_kappa"] for r in rows],
    }
    for label, ys in series.items():
        ax.loglog(ks, ys, "o-", label=label)
    ax.loglog(
        ks,
        series[r"$\beta$ rel. err, exact vs reduced"][0] * (ks / ks[0]) ** 3,
        "k:",
        label=r"slope 3",
    )
    ax.set(
        xlabel=r"$\kappa$",
        ylabel="max error up to the common scaled time",
        title=f"Thm 5.2: exact flow vs reduced ODE (p={p})",
    )
    ax.legend()
    save_figure(fig, os.path.join(out, "errors"), formats)
    plt.close(fig)
    return KappaErrorTable(
        numbers=results,
        figures=("errors.png",),
        rows=tuple(
            KappaErrorRow(
                kappa=r["kappa"],
                beta_exact_vs_reduced=r["exact_vs_reduced"]["beta"],
                D_exact_vs_reduced=r["exact_vs_reduced"]["D"],
                beta_main_vs_reduced=r["main_vs_reduced"]["beta"],
                leak_over_kappa=r["leak_over_kappa"],
            )
            for r in rows
        ),
        order_beta=orders["exact_vs_reduced_beta"],
        order_D=orders["exact_vs_reduced_D"],
        order_leak=orders["leak_over_kappa"],
        tau_cut=tau_cut,
    )


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
