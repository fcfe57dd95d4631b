"""Paper Fig. 8 and Fig. 15: one neuron's phase alignment and magnitude growth, with the exact
gradient flow, the main flow (theory eq. (21)) and the reduced ODE (theory eq. (24)) overlaid.

p=23, one neuron at frequency 2 with `alpha0 = beta0 = kappa = 0.02`, initial phases
`(phi, psi) = (1.5, 0.18)` (D0 = 2.82, in (pi/2, pi): Fig. 15a, the magnitudes shrink first)
and `(-0.72, -2.91)` (D0 = 1.47, in (0, pi/2): Fig. 8 / 15b). Each solve stops at the end of
the initial stage, `max |weights| >= c_end`. Alignment times `t_delta` (|sin D| <= delta on the
aligned side) come from the closed form (reduced), and from event-terminated solves of the
main and exact flows.

Run `python experiments/fig08_phase_dynamics.py [--key value ...]`; writes
`out/fig08_phase_dynamics/{case}.png` and `results.json`.
"""

import dataclasses
import json
import os

import diffrax as dfx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import fourierflow as ff
from fourierflow.experiments._result import ExperimentResult
from fourierflow.plots import plot_flow_comparison, save_figure

CASES = {"fig15a_D0_in_pi2_pi": (1.5, 0.18), "fig8_fig15b_D0_in_0_pi2": (-0.72, -2.91)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class PhaseDynamicsCase:
    """One initial-phase case of Fig. 8 / Fig. 15.

    **Fields:**

    - `D0`: the initial phase difference.
    - `t_aligned`, `t_end`, `t_stop`: per method (`exact`, `main`, `reduced`) the time every
      neuron aligned (`None`: not within the initial stage), the end of the initial stage,
      the end of the solve.
    - `error_exact_vs_reduced`, `error_main_vs_reduced`: max relative errors of `alpha`,
      `beta` and absolute of `D` over the common times.
    - `max_leak_exact_over_kappa`: the exact flow's largest off-frequency part over `kappa`.
    """

    D0: float
    t_aligned: dict[str, float | None]
    t_end: dict[str, float]
    t_stop: dict[str, float]
    error_exact_vs_reduced: dict[str, float]
    error_main_vs_reduced: dict[str, float]
    max_leak_exact_over_kappa: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class PhaseDynamics(ExperimentResult):
    """Fig. 8 / Fig. 15: `p`, `k`, `kappa`, the stage's end `c_end`, the alignment tolerance
    `delta`, and one `PhaseDynamicsCase` per initial-phase case (`cases`)."""

    p: int
    k: int
    kappa: float
    c_end: float
    delta: float
    cases: dict[str, PhaseDynamicsCase]


def single_neuron(p, k, kappa, phi, psi):
    """A one-neuron quadratic network `kappa cos(w_k j + phi)`, `kappa cos(w_k j + psi)`."""
    K = (p - 1) // 2
    mag = jnp.where(jnp.arange(1, K + 1) == k, kappa, 0.0)[None]
    theta = ff.from_polar(mag, jnp.full((1, K), phi))
    xi = ff.from_polar(mag, jnp.full((1, K), psi))
    return ff.TwoLayerNet(theta, xi, "quad")


def main(
    out: str = "out/fig08_phase_dynamics",
    p: int = 23,
    k: int = 2,
    kappa: float = 0.02,
    c_end_over_kappa: float = 10.0,
    delta: float = 0.05,
    n_times: int = 400,
    rtol: float = 1e-10,
    formats: tuple[str, ...] = ("png",),
):
    """Draw Fig. 8 / Fig. 15 for both initial-phase cases and save the event times.

    **Arguments:**

    - `out`: output folder; `p`, `k`, `kappa`: modulus, frequency, initial magnitude.
    - `c_end_over_kappa`: the end of the initial stage, `c_end = c_end_over_kappa * kappa`.
    - `delta`: alignment tolerance; `n_times`: save times; `rtol`: solver tolerance.
    """
    jax.config.update("jax_enable_x64", True)
    os.makedirs(out, exist_ok=True)
    c_end = c_end_over_kappa * kappa
    controller = dfx.PIDController(rtol=rtol, atol=1e-6 * rtol * kappa)
    results = dict(
        p=p, k=k, kappa=kappa, c_end=c_end, delta=delta, rtol=rtol, time="sum reduction", cases={}
    )
    for name, (phi, psi) in CASES.items():
        net0 = single_neuron(p, k, kappa, phi, psi)
        D0 = float(ff.phase_difference(phi, psi))
        t_star = float(ff.blowup_time(kappa, kappa, D0, p))
        ts = jnp.linspace(0.0, t_star, n_times)
        comparison = ff.compare(net0, ts, delta=delta, c_end=c_end, stepsize_controller=controller)
        # The reduced ODE's alignment time is the closed form's; the flows' come from their
        # event-terminated solves inside `compare`.
        t_align = {
            method: (float(t) if np.isfinite(float(t)) else None)
            for method, t in comparison.t_aligned.items()
        }
        err_exact = {k_: float(v) for k_, v in comparison.error("exact", "reduced").items()}
        err_main = {k_: float(v) for k_, v in comparison.error("main", "reduced").items()}
        results["cases"][name] = dict(
            phi0=phi,
            psi0=psi,
            D0=D0,
            t_star_reduced=t_star,
            t_stop_exact=float(comparison.t_stop["exact"]),
            t_stop_main=float(comparison.t_stop["main"]),
            t_end={m: float(t) for m, t in comparison.t_end.items()},
            t_align=t_align,
            beta_over_kappa_at_stop=float(
                comparison.exact.beta[int(np.sum(comparison.valid)) - 1, 0] / kappa
            ),
            error_exact_vs_reduced=err_exact,
            error_main_vs_reduced=err_main,
            max_leak_exact_over_kappa=float(jnp.max(comparison.leak_exact) / kappa),
        )
        fig = plot_flow_comparison(
            comparison,
            t_align=t_align,
            title=(
                f"p={p}, k={k}, kappa={kappa}: (phi0, psi0)=({phi}, {psi}), D0={D0:.2f}; "
                f"until max|w| = {c_end:g}; t_delta at delta={delta}"
            ),
        )
        save_figure(fig, os.path.join(out, f"{name}"), formats)
        plt.close(fig)
        print(name, json.dumps(results["cases"][name], indent=1))
    ff.write_json(os.path.join(out, "results.json"), results)
    cases = {
        name: PhaseDynamicsCase(
            D0=c["D0"],
            t_aligned=c["t_align"],
            t_end=c["t_end"],
            t_stop={"exact": c["t_stop_exact"], "main": c["t_stop_main"]},
            error_exact_vs_reduced=c["error_exact_vs_reduced"],
            error_main_vs_reduced=c["error_main_vs_reduced"],
            max_leak_exact_over_kappa=c["max_leak_exact_over_kappa"],
        )
        for name, c in results["cases"].items()
    }
    return PhaseDynamics(
        numbers=results,
        figures=tuple(f"{name}.png" for name in CASES),
        p=p,
        k=k,
        kappa=kappa,
        c_end=c_end,
        delta=delta,
        cases=cases,
    )


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
