"""Convergence time (Thm 5.3, theory eqs. (31)-(39)): the scaling collapse
`p kappa t_delta = T(D0, delta)`,
the band of `t_delta / bound`, the magnitude-at-alignment law and the mean-field claim.

>= 1e5 random single-frequency trajectories (alpha0 = beta0 = kappa): D0 uniform in (-pi, pi]
(plus a log-spaced set near the unstable point D0 = pi), kappa log-uniform in [1e-4, 1e-1],
p a random odd prime <= 199, delta in {1e-1, 1e-2, 1e-3}; event-terminated Diffrax solves
through `fourierflow.sweep_alignment`, checked against the closed form and, for the collapse,
against an independent solve of the raw ODE `(alpha, beta, D)` in unscaled time with the rate
p of each element (the library's solver integrates in scaled time, where the collapse holds by
construction, so the check must not use it).

Run `python experiments/convergence_time.py [--n 100000] [--shard 0/4]`; with `--shard i/N`
only that slice is computed and saved (merge the `sweep.npz` files with
`fourierflow.merge_sweeps`, then rerun with `--merged PATH` for the analysis).
"""

import dataclasses
import math
import os

import diffrax as dfx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optimistix as optx
import scipy.stats

import fourierflow as ff
from fourierflow.experiments._result import ExperimentResult
from fourierflow.plots import lottery as lplots, save_figure


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConvergenceTime(ExperimentResult):
    """The checks of Thm 5.3 over a sweep of alignment times.

    **Fields:**

    - `n`: trajectories; `outcomes`: their count per `Outcome` name.
    - `collapse_max_rel_dev`: max `|p kappa t_delta / T(D0, delta) - 1|` (the scaling
      collapse against the closed form); `collapse_natural_max_rel_dev`: the same from the
      ODE in its natural variables and unscaled time, over `natural_p_range`.
    - `bound_band`: min and max of `t_delta / bound` where the paper's bracket is positive;
      `bound_band_away_from_pi`: the same for `B0 <= pi - 0.1`; `near_pi_log_slope`: `a` in
      `p kappa t_delta ~ a log(1/(pi - B0)) + b` (delta = 1e-2), the growth that makes the
      ratio unbounded as `D0 -> pi`.
    - `magnitude_max_rel_err`: the magnitude-at-alignment law's max relative error.
    - `ks_phi`, `ks_psi`: Kolmogorov-Smirnov statistics of the aligned phases against the
      uniform law; `ks_critical`: the 1% critical value.
    """

    n: int
    outcomes: dict[str, int]
    collapse_max_rel_dev: float
    collapse_natural_max_rel_dev: float
    natural_p_range: tuple[int, int]
    bound_band: tuple[float, float]
    bound_band_away_from_pi: tuple[float, float]
    near_pi_log_slope: float | None
    magnitude_max_rel_err: float
    ks_phi: float
    ks_psi: float
    ks_critical: float


PRIMES = [q for q in range(3, 200) if all(q % d for d in range(2, int(q**0.5) + 1))]


def natural_element(x):
    """One element in the ODE's own variables and unscaled time, rate `p` a traced value:
    the independent check of the collapse (no scaling by p or kappa anywhere)."""
    kappa, D0, delta, p = x["kappa"], x["D0"], x["delta"], x["p"].astype(float)
    D0 = jnp.pi - jnp.remainder(jnp.pi - D0, 2 * jnp.pi)  # in (-pi, pi]: D tends to 0

    def cond(t, y, args, **kwargs):
        del t, args, kwargs
        return jnp.abs(y[2]) - jnp.arcsin(delta)

    sol = dfx.diffeqsolve(
        dfx.ODETerm(lambda t, y, args: jnp.stack(ff.reduced_vector_field(t, tuple(y), args))),
        dfx.Tsit5(),
        0.0,
        1e3 / (p * kappa),
        None,
        jnp.stack([kappa, kappa, D0]),
        args=p,
        stepsize_controller=dfx.PIDController(rtol=1e-10, atol=1e-14 * kappa),
        # expand_if_necessary: under vmap the root find also runs for elements whose event did
        # not fire (their root is the end of the last step); the default bisection rejects that.
        event=dfx.Event(
            cond,
            optx.Bisection(rtol=1e-12, atol=1e-12 / (p * kappa), expand_if_necessary=True),
        ),
        saveat=dfx.SaveAt(t1=True),
        max_steps=16384,
        throw=False,
    )
    t = sol.ts[-1]
    return {"t_delta": t, "tau": p * kappa * t}, sol.result


def _inputs(n, n_near_pi, seed):
    rng = np.random.default_rng(seed)
    D0 = rng.uniform(-np.pi, np.pi, n)
    # Near the unstable point: pi - |D0| log-uniform in [1e-8, 1e-1], both signs.
    gap = 10 ** rng.uniform(-8, -1, n_near_pi)
    D0 = np.concatenate([D0, rng.choice([-1.0, 1.0], n_near_pi) * (np.pi - gap)])
    m = D0.size
    kappa = 10 ** rng.uniform(-4, -1, m)
    p = rng.choice(PRIMES, m)
    delta = rng.choice([1e-1, 1e-2, 1e-3], m)
    phi0 = rng.uniform(-np.pi, np.pi, m)
    psi0 = 2 * phi0 - D0  # so that D0 = 2 phi0 - psi0 exactly
    return D0, kappa, p, delta, phi0, psi0


def _bracket(D0, delta):
    """The paper's Thm 5.3 bracket `p kappa * bound`, via `alignment_time_bound` at p=3, kappa=1."""
    return np.asarray(ff.alignment_time_bound(1.0, D0, 3, delta)) * 3.0


def main(
    out: str = "out/convergence_time",
    n: int = 100_000,
    n_near_pi: int = 10_000,
    n_natural: int = 3_000,
    n_phases: int = 20_000,
    seed: int = 0,
    chunk_size: int | None = None,
    shard: str | None = None,
    merged: str | None = None,
    progress: bool = True,
    formats: tuple[str, ...] = ("png",),
):
    jax.config.update("jax_enable_x64", True)
    os.makedirs(out, exist_ok=True)
    D0, kappa, p, delta, phi0, psi0 = _inputs(n, n_near_pi, seed)
    if merged is None:
        res = ff.sweep_alignment(
            D0, kappa, p, delta, chunk_size=chunk_size, progress=progress, shard=shard, seed=seed
        )
        res.save(os.path.join(out, "sweep.npz"))
        if shard is not None:
            print(f"shard {shard} saved to {out}/sweep.npz; merge, then rerun with --merged")
            return None
    else:
        res = ff.load_sweep(merged)
    numbers = {"n": int(res.n), "seed": seed, "outcomes": res.describe()}
    ok = res.ok
    D0, kappa, p, delta = res["D0"], res["kappa"], res["p"], res["delta"]
    tau, t = res["tau"], res["t_delta"]

    # 1. T(D0, delta) from the closed form at p=3, kappa=1: the collapse against it.
    cf = ff.sweep_alignment(D0, 1.0, 3, delta, method="closed_form", progress=False)
    T = cf["t_delta"] * 3.0
    moved = ok & (t > 0) & np.isfinite(T)
    dev = np.abs(tau[moved] / T[moved] - 1)
    numbers["collapse_vs_closed_form"] = {
        "max_rel_dev": float(dev.max()),
        "median_rel_dev": float(np.median(dev)),
    }
    # 2. The independent check: raw ODE, unscaled time, per-element p (a subset).
    rng = np.random.default_rng(seed + 1)
    sub = rng.choice(np.flatnonzero(moved), min(n_natural, moved.sum()), replace=False)
    nat = ff.sweep(
        natural_element,
        {"kappa": kappa[sub], "D0": D0[sub], "delta": delta[sub], "p": p[sub]},
        chunk_size=1024,
        progress=progress,
    )
    good = nat.ok
    dev_nat = np.abs(nat["tau"][good] / T[sub][good] - 1)
    numbers["collapse_natural_variables"] = {
        "n": int(sub.size),
        "n_ok": int(good.sum()),
        "outcomes": nat.describe(),
        "max_rel_dev": float(dev_nat.max()),
        "median_rel_dev": float(np.median(dev_nat)),
        "p_range": [int(p[sub].min()), int(p[sub].max())],
        "kappa_range": [float(kappa[sub].min()), float(kappa[sub].max())],
    }
    print("collapse", numbers["collapse_vs_closed_form"], numbers["collapse_natural_variables"])

    # 3. The paper's bound form: band of tau / bracket, where widest, behaviour near pi.
    B0 = np.abs(np.angle(np.exp(1j * D0)))
    bracket = _bracket(D0, delta)
    valid = moved & (bracket > 0)
    ratio = np.full_like(tau, np.nan)
    ratio[valid] = tau[valid] / bracket[valid]
    edges = np.concatenate([np.linspace(0, np.pi - 0.1, 31), np.pi - np.logspace(-1, -8, 15)])
    bins = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = valid & (B0 >= lo) & (B0 < hi)
        neg = moved & (B0 >= lo) & (B0 < hi) & (bracket <= 0)
        if sel.any() or neg.any():
            bins.append(
                {
                    "B0": [float(lo), float(hi)],
                    "n": int(sel.sum()),
                    "ratio_min": float(np.nanmin(ratio[sel])) if sel.any() else None,
                    "ratio_max": float(np.nanmax(ratio[sel])) if sel.any() else None,
                    "n_bracket_nonpositive": int(neg.sum()),
                    "tau_max": float(tau[sel | neg].max()),
                }
            )
    spread = [b["ratio_max"] / b["ratio_min"] if b["n"] else 0 for b in bins]
    widest = bins[int(np.argmax(spread))]
    per_delta = {}
    for d in (1e-1, 1e-2, 1e-3):
        s = valid & (delta == d)
        per_delta[str(d)] = [float(ratio[s].min()), float(ratio[s].max())]
    near_pi = valid & (np.pi - B0 < 1e-3)
    away = valid & (B0 <= np.pi - 0.1)
    numbers["bound_ratio"] = {
        "band": [float(np.nanmin(ratio[valid])), float(np.nanmax(ratio[valid]))],
        "band_away_from_pi": [float(np.nanmin(ratio[away])), float(np.nanmax(ratio[away]))],
        "band_per_delta": per_delta,
        "widest_bin": widest,
        "n_bracket_nonpositive": int((moved & (bracket <= 0)).sum()),
        "bracket_nonpositive_where": "|sin D0| <= delta with the bracket's max term too small: "
        "D0 near 0 (already nearly aligned) or near pi",
        "near_pi_ratio_max": float(ratio[near_pi].max()) if near_pi.any() else None,
        "bounded_as_D0_to_pi": False,
        "bins": bins,
    }
    # tau grows like log(1/(pi - B0)) near pi while the bracket stays finite: fit the rate.
    far = moved & (np.pi - B0 < 1e-2) & (delta == 1e-2)
    if far.sum() > 10:
        slope, intercept = np.polyfit(np.log(1 / (np.pi - B0[far])), tau[far], 1)
        numbers["bound_ratio"]["near_pi_fit"] = {
            "tau ~ a log(1/(pi - B0)) + b (delta=1e-2)": [float(slope), float(intercept)]
        }
    # Another form: add the escape time from the unstable point, c log(1 / cos(B0/2)).
    feats = lambda B0, dl: np.stack(  # noqa: E731
        [
            np.ones_like(B0),
            (dl / np.maximum(np.sin(B0), dl)) ** (1 / 3),
            np.maximum(B0 - np.pi / 2, 0),
            np.log(1 / np.cos(B0 / 2)),
        ],
        axis=1,
    )
    X = feats(B0[moved], delta[moved])
    coef, *_ = np.linalg.lstsq(X, tau[moved], rcond=None)
    fit = X @ coef
    numbers["alternative_form"] = {
        "form": "c0 + c1 (delta/max(|sin D0|, delta))^(1/3) + c2 max(B0 - pi/2, 0) "
        "+ c3 log(1/cos(B0/2))",
        "coefficients": [float(c) for c in coef],
        "ratio_band": [float((tau[moved] / fit).min()), float((tau[moved] / fit).max())],
    }
    print(
        "bound",
        numbers["bound_ratio"]["band"],
        "widest",
        widest["B0"],
        "alt",
        numbers["alternative_form"],
    )

    # 4. The magnitude at alignment: beta(t_delta) / kappa = R with R (2R^2 - 1) = |sin D0|/delta.
    R = np.asarray(ff.magnitude_at_alignment(D0[moved], delta[moved]))
    rel = np.abs(res["beta"][moved] / kappa[moved] / R - 1)
    numbers["magnitude_law"] = {
        "max_rel_err": float(rel.max()),
        "median_rel_err": float(np.median(rel)),
    }

    # 5. Mean-field: uniform initial phases -> aligned phases uniform with psi = 2 phi.
    m = min(n_phases, n)
    mf = ff.sweep_alignment(
        D0[:m],
        kappa[:m],
        p[:m],
        delta[:m],
        phases=(phi0[:m], psi0[:m]),
        progress=progress,
        chunk_size=chunk_size,
    )
    g = mf.ok
    phi, psi = mf["phi"][g], mf["psi"][g]
    u = np.mod(phi, 2 * np.pi) / (2 * np.pi)
    ks_phi = scipy.stats.kstest(u, "uniform")
    ks_psi = scipy.stats.kstest(np.mod(psi, 2 * np.pi) / (2 * np.pi), "uniform")
    gap = np.abs(np.angle(np.exp(1j * (psi - 2 * phi))))
    numbers["mean_field"] = {
        "n": int(g.sum()),
        "ks_phi_uniform": {"statistic": float(ks_phi.statistic), "pvalue": float(ks_phi.pvalue)},
        "ks_psi_uniform": {"statistic": float(ks_psi.statistic), "pvalue": float(ks_psi.pvalue)},
        "max_abs_psi_minus_2phi": float(gap.max()),
        "max_arcsin_delta": float(np.arcsin(delta[:m][g]).max()),
        "ks_critical_1pct": float(1.63 / math.sqrt(g.sum())),
    }
    print("mean field", numbers["mean_field"])

    # Figures.
    fig = lplots.plot_collapse(D0[moved], tau[moved], delta[moved], bound=bracket[moved])
    save_figure(fig, os.path.join(out, "collapse"), formats)
    fig = lplots.plot_collapse_check(
        p[sub][good] * kappa[sub][good],
        nat["tau"][good] / T[sub][good],
        delta[sub][good],
        rtol=1e-10,
    )
    save_figure(fig, os.path.join(out, "collapse_natural"), formats)
    fig = lplots.plot_ratio_band(D0[valid], ratio[valid], delta[valid])
    save_figure(fig, os.path.join(out, "bound_ratio"), formats)
    fig = lplots.plot_mean_field(phi, psi)
    save_figure(fig, os.path.join(out, "mean_field"), formats)
    plt.close("all")
    ff.write_json(os.path.join(out, "results.json"), numbers)
    fit = numbers["bound_ratio"].get("near_pi_fit")
    return ConvergenceTime(
        numbers=numbers,
        figures=("collapse.png", "collapse_natural.png", "bound_ratio.png", "mean_field.png"),
        n=numbers["n"],
        outcomes=numbers["outcomes"],
        collapse_max_rel_dev=numbers["collapse_vs_closed_form"]["max_rel_dev"],
        collapse_natural_max_rel_dev=numbers["collapse_natural_variables"]["max_rel_dev"],
        natural_p_range=tuple(numbers["collapse_natural_variables"]["p_range"]),
        bound_band=tuple(numbers["bound_ratio"]["band"]),
        bound_band_away_from_pi=tuple(numbers["bound_ratio"]["band_away_from_pi"]),
        near_pi_log_slope=None if fit is None else next(iter(fit.values()))[0],
        magnitude_max_rel_err=numbers["magnitude_law"]["max_rel_err"],
        ks_phi=numbers["mean_field"]["ks_phi_uniform"]["statistic"],
        ks_psi=numbers["mean_field"]["ks_psi_uniform"]["statistic"],
        ks_critical=numbers["mean_field"]["ks_critical_1pct"],
    )


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
