"""Validity map of the reduced theory: where the per-frequency ODE predicts the exact gradient
flow over a grid of (init kind, kappa, p, width), with >= 1000 exact-flow networks in all.

For every network, the exact flow runs as part of an ensemble to the end of its initial stage
(`max |weights| = c_end`), and once more to record when every neuron aligns (`Aligned`,
before the stage's end); the main flow runs to the same time. Measured per cell: the rate at
which each neuron's exact-flow winner (its largest `beta_k` at the stage's end) equals the
reduced-ODE prediction (every frequency on its own ODE from the network's initial magnitudes
and phases, to the same time) and equals `argmin_k B_k(0)` (Lemma C.3); the relative error of
`beta` at the winner, main flow and reduced ODE against the exact flow, at the stage's end;
and the relative error of the predicted alignment time (the latest over neurons of the
closed-form `t_delta` at each neuron's winner) against the exact flow's.

Run `fourierflow reproduce validity_map`; writes `validity_map.png` and `results.json`.
"""

import dataclasses
import functools
import itertools
import os

import diffrax as dfx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

import fourierflow as ff
from fourierflow.experiments._result import ExperimentResult
from fourierflow.plots import save_figure

INITS = ("single_frequency", "multi_frequency", "gaussian")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ValidityMap(ExperimentResult):
    """One row per cell of the grid (`cells`, dicts with the cell's parameters and rates) and
    the totals: `networks` solved, the overall rates of winner agreement with the reduced ODE
    and with `argmin B_k(0)`, the fraction of networks whose reduced-ODE `beta` at the winner
    is within 10% of the exact flow's at the stage's end, and the median error of the
    predicted alignment time (over the networks that align within the stage)."""

    networks: int
    cells: tuple[dict, ...]
    winner_equals_reduced: float
    winner_equals_argmin_B0: float
    beta_within_10pct: float
    median_alignment_time_error: float


@functools.cache
def _init(kind, p, width):
    """A member builder (cached: one compiled ensemble per kind and shape): `x["key"]`,
    `x["kappa"]` -> a network whose magnitudes per frequency are ~ kappa."""
    if kind == "single_frequency":
        return lambda x: ff.init_single_frequency(x["key"], p, width, x["kappa"])
    if kind == "multi_frequency":
        return lambda x: ff.init_multi_frequency(x["key"], p, width, x["kappa"])
    # Entries N(0, (scale/sqrt p)^2): the mean magnitude per frequency is ~ scale sqrt(pi)/p.
    return lambda x: ff.init_gaussian(x["key"], p, width, x["kappa"] * p / np.sqrt(np.pi), "quad")


def _spectra(build, inputs):
    nets = jax.vmap(build)(inputs)
    s = jax.vmap(ff.neuron_spectrum)(nets)
    return nets, {k: np.asarray(v) for k, v in s.items()}


def _median(values) -> float | None:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else None


def _cell(kind, p, width, kappa, n, seed, delta, controller):
    build = _init(kind, p, width)
    inputs = {"key": jr.split(jr.key(seed), n), "kappa": np.full(n, kappa)}
    nets, s0 = _spectra(build, inputs)
    w0 = float(jnp.max(jnp.abs(jnp.concatenate([nets.theta, nets.xi], axis=-1))))
    c_end = max(10 * kappa, 2 * w0)
    common = dict(init=build, inputs=inputs, stepsize_controller=controller, progress=False)
    stage = ff.solve_ensemble(event=[ff.MagnitudeAbove(c_end), ff.BlowUp(1e6)], **common)
    t_end = stage["t_stop"]
    aligned = ff.solve_ensemble(event=[ff.Aligned(delta), ff.MagnitudeAbove(c_end)], **common)
    t_align = aligned["t_event/Aligned"]
    main = ff.solve_ensemble(flow="main", t1=t_end, event=ff.BlowUp(1e6), **common)
    beta_exact, beta_main = stage["stat/beta"][:, -1], main["stat/beta"][:, -1]  # (n, M, K)
    # The reduced ODE of every (network, neuron, frequency), each network to its t_end, but
    # each neuron at most to just before its first blow-up: past it the ODE has no state,
    # and its winner is the frequency that blows up first (the t -> t_star limit).
    t_star = ff.blowup_time(s0["alpha"], s0["beta"], s0["D"], p)  # (n, M, K)
    first = np.min(t_star, axis=-1, keepdims=True)
    blown = t_end[:, None, None] >= 0.999 * first  # (n, M, 1)
    t1 = np.broadcast_to(np.minimum(t_end[:, None, None], 0.999 * first), s0["beta"].shape)
    red = ff.solve_reduced(
        s0["alpha"], s0["beta"], s0["D"], p, t1=t1, stepsize_controller=controller,
        event=None, throw=False,
    )  # fmt: skip
    beta_red = np.asarray(red.y_stop.beta)
    winner = np.argmax(beta_exact, axis=-1)  # (n, M)
    predicted = np.argmax(beta_red, axis=-1)
    B0 = np.minimum(s0["D"], 2 * np.pi - s0["D"])
    top = np.max(s0["beta"], axis=-1, keepdims=True)
    present = (s0["alpha"] > 1e-8 * top) & (s0["beta"] > 1e-8 * top)  # not rounding noise
    argmin_B0 = np.argmin(np.where(present, B0, np.inf), axis=-1)
    at = lambda a: np.take_along_axis(a, winner[..., None], axis=-1)[..., 0]  # noqa: E731
    # beta errors where the reduced ODE is still defined at the stage's end (no blow-up yet).
    alive = ~blown[..., 0]  # (n, M)
    rel = lambda a: np.where(alive, np.abs(at(a) / at(beta_exact) - 1), np.nan)  # noqa: E731
    err_red = np.nanmax(rel(beta_red), axis=-1)  # per network (NaN: every neuron blew up)
    err_main = np.nanmax(rel(beta_main), axis=-1)
    # Predicted alignment time: the latest over neurons of each winner's closed-form t_delta.
    t_pred = np.max(
        ff.alignment_time_exact(at(s0["alpha"]), at(s0["beta"]), at(s0["D"]), p, delta), axis=-1
    )
    seen = np.isfinite(t_align) & np.isfinite(t_pred)
    err_align = np.abs(t_pred[seen] / t_align[seen] - 1)
    ok = stage.ok & main.ok
    return dict(
        init=kind,
        p=p,
        width=width,
        kappa=kappa,
        networks=n,
        c_end=c_end,
        outcomes={
            "stage": stage.describe(),
            "aligned": aligned.describe(),
            "main": main.describe(),
        },
        winner_equals_reduced=float(np.mean((winner == predicted)[ok])),
        winner_equals_argmin_B0=float(np.mean((winner == argmin_B0)[ok])),
        reduced_blew_up_before_end=float(np.mean(blown)),
        beta_error_main=_median(err_main[ok]),
        beta_error_reduced=_median(err_red[ok]),
        beta_within_10pct=float(np.mean(np.nan_to_num(err_red[ok], nan=np.inf) < 0.1)),
        aligned_in_stage=float(np.mean(seen)),
        alignment_time_error=float(np.median(err_align)) if seen.any() else None,
    )


def main(
    out: str = "out/validity_map",
    inits: tuple[str, ...] = INITS,
    kappas: tuple[float, ...] = (0.01, 0.03, 0.1),
    ps: tuple[int, ...] = (11, 23),
    widths: tuple[int, ...] = (4, 16),
    networks: int = 32,
    delta: float = 0.05,
    rtol: float = 1e-8,
    seed: int = 0,
    formats: tuple[str, ...] = ("png",),
) -> ValidityMap:
    """Measure where the reduced theory predicts the exact flow, over the grid.

    **Arguments:**

    - `out`: output folder; `inits`, `kappas`, `ps`, `widths`: the grid; `networks`: per
      cell (the default grid has 36 cells, 1152 networks).
    - `delta`: alignment tolerance; `rtol`: solver tolerance; `seed`: PRNG seed.
    - `formats`: figure formats.
    """
    jax.config.update("jax_enable_x64", True)
    os.makedirs(out, exist_ok=True)
    controller = dfx.PIDController(rtol=rtol, atol=1e-6 * rtol * min(kappas))
    cells = []
    grid = list(itertools.product(inits, kappas, ps, widths))
    for i, (kind, kappa, p, width) in enumerate(grid):
        cell = _cell(kind, p, width, kappa, networks, seed + i, delta, controller)
        cells.append(cell)
        print(
            f"{kind:16s} kappa={kappa:<5g} p={p:<3d} M={width:<3d} winner=reduced "
            f"{cell['winner_equals_reduced']:.3f} =argmin B0 {cell['winner_equals_argmin_B0']:.3f}"
            f" beta err {cell['beta_error_reduced']}, aligned {cell['aligned_in_stage']:.2f}, "
            f"blown up {cell['reduced_blew_up_before_end']:.2f}"
        )
    n = sum(c["networks"] for c in cells)
    weights = np.asarray([c["networks"] for c in cells], float)
    mean = lambda key: float(  # noqa: E731
        np.average([c[key] for c in cells], weights=weights)
    )
    align = [c["alignment_time_error"] for c in cells if c["alignment_time_error"] is not None]
    numbers = dict(
        networks=n,
        delta=delta,
        rtol=rtol,
        seed=seed,
        gaussian_scale="kappa * p / sqrt(pi) (mean magnitude per frequency ~ kappa)",
        c_end="max(10 kappa, 2 max |w(0)| over the cell's networks)",
        cells=cells,
        winner_equals_reduced=mean("winner_equals_reduced"),
        winner_equals_argmin_B0=mean("winner_equals_argmin_B0"),
        beta_within_10pct=mean("beta_within_10pct"),
        median_alignment_time_error=float(np.median(align)) if align else None,
    )
    ff.write_json(os.path.join(out, "results.json"), numbers)
    from fourierflow.plots.validity import plot_validity_map

    fig = plot_validity_map(cells)
    save_figure(fig, os.path.join(out, "validity_map"), formats)
    return ValidityMap(
        numbers=numbers,
        figures=("validity_map.png",),
        networks=n,
        cells=tuple(cells),
        winner_equals_reduced=numbers["winner_equals_reduced"],
        winner_equals_argmin_B0=numbers["winner_equals_argmin_B0"],
        beta_within_10pct=numbers["beta_within_10pct"],
        median_alignment_time_error=numbers["median_alignment_time_error"] or float("nan"),
    )


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
