"""The lottery among frequencies (Lemma C.3, Cor 6.1, paper Fig. 4), checked with numbers.

(a) order preservation: `multi_frequency(kappa)` neurons (p=23, 1e4 neurons), every (neuron,
    frequency) on its reduced ODE (`fourierflow.sweep_lottery`): the ranking of `beta_k(t)` is
    the reverse of the ranking of `B_k(0)` at every saved time; violations counted, ties excluded.
(b) winner prediction on the EXACT gradient flow (`fourierflow.solve_exact`) of a quadratic
    network from `init_multi_frequency` (p=23, width 256, kappa=1e-3) and `init_gaussian`:
    fraction of neurons whose final dominant frequency (argmax beta) equals `argmin_k B_k(0)`
    and equals the reduced-ODE prediction (argmax of reduced beta_k at the same time, from the
    network's own unequal initial magnitudes).
(c) the same predictors against discrete training (`fourierflow.train`), when `part_c=True`.
(d) dominance time `p kappa t_eps` for p in {11, 23, 47, 97, 199}, eps in {0.1, 0.01}: median
    and 90th percentile against log p (`fourierflow.solve_dominance` inside `fourierflow.sweep`).
(e) Fig. 4a: one neuron's frequencies racing; Fig. 4b: contour of beta at a fixed time over
    (initial magnitude, initial misalignment) with `jax.grad` arrows.

Run `python experiments/lottery.py` (numbers to out/lottery/results.json, figures PNG).
"""

import dataclasses
import functools
import json
import os

import diffrax as dfx
import jax
import jax.numpy as jnp
import jax.random as jr
import matplotlib.pyplot as plt
import numpy as np

import fourierflow as ff
from fourierflow.experiments._result import ExperimentResult
from fourierflow.plots import lottery as lplots, save_figure


def _neuron_coords(net):
    """`(alpha, beta, D, B)` per neuron and frequency, `(M, K)` each, from a network."""
    alpha, phi = ff.polar(net.theta)
    beta, psi = ff.polar(net.xi)
    D = ff.phase_difference(phi, psi)
    return (np.asarray(x) for x in (alpha, beta, D, ff.misalignment(D)))


def _winner_blowup(alpha, beta, D, p, winner):
    """Blow-up time of each neuron's (0-based) `winner` frequency (exact, scipy)."""
    take = lambda x: np.take_along_axis(x, winner[:, None], axis=1)[:, 0]  # noqa: E731
    return ff.blowup_time(take(alpha), take(beta), take(D), p)


def part_a(p, n_neurons, kappa, n_times, seed, progress):
    net = ff.init_multi_frequency(jr.key(seed), p, n_neurons, kappa)
    alpha0, beta0, D0, B0 = _neuron_coords(net)
    winner = np.argmin(B0, axis=1)
    t_star = _winner_blowup(alpha0, beta0, D0, p, winner)
    ts = np.linspace(0, 0.95 * t_star.min(), n_times)
    res = ff.sweep_lottery(D0, p, ts, alpha0=alpha0, beta0=beta0, progress=progress, seed=seed)
    beta = res["beta"]  # (M, K, T)
    order = np.argsort(B0, axis=1)  # increasing B0 = the predicted decreasing beta
    b_sorted = np.take_along_axis(beta, order[:, :, None], axis=1)
    B_sorted = np.take_along_axis(B0, order, axis=1)
    # Pairs of adjacent ranks suffice (a ranking is preserved iff every adjacent pair is).
    tie_B = np.diff(B_sorted, axis=1) <= 1e-12
    diff = np.diff(b_sorted[:, :, 1:], axis=1)  # t > 0 only; beta_k(0) are all equal
    tie_beta = np.abs(diff) <= 1e-12 * b_sorted[:, :-1, 1:]
    pair_ok = ~tie_B[:, :, None] & ~tie_beta
    violations = int(np.sum((diff >= 0) & pair_ok))
    numbers = {
        "p": p,
        "neurons": n_neurons,
        "kappa": kappa,
        "saved_times": n_times,
        "t_end_over_min_blowup": 0.95,
        "outcomes": res.describe(),
        "violations": violations,
        "pairs_checked": int(pair_ok.sum()),
        "ties_excluded_B0": int(tie_B.sum()),
        "ties_excluded_beta": int((tie_beta & ~tie_B[:, :, None]).sum()),
        "winner_equals_argmin_B0": float(np.mean(res["winner"] == winner + 1)),
    }
    return numbers, res, ts, winner


def _exact_flow_winners(net0, p, progress, t_factor):
    """Run the exact flow and predict winners; returns the numbers of part (b) for `net0`."""
    alpha0, beta0, D0, B0 = _neuron_coords(net0)
    argmin_B0 = np.argmin(B0, axis=1) + 1
    # The reduced prediction from the network's own magnitudes; end before blow-up.
    t_star_all = ff.blowup_time(alpha0, beta0, D0, p)  # (M, K)
    first = np.argmin(t_star_all, axis=1)  # the frequency that blows up first in each neuron
    t_end = t_factor * np.take_along_axis(t_star_all, first[:, None], 1).min()
    red = ff.sweep_lottery(D0, p, [0.0, t_end], alpha0=alpha0, beta0=beta0, progress=progress)
    ts = jnp.linspace(0.0, t_end, 5)
    sol = ff.solve_exact(net0, ts, reduction="sum", throw=False)
    net_end = ff.TwoLayerNet(sol.ys.theta[-1], sol.ys.xi[-1], "quad")
    beta_end = np.asarray(ff.polar(net_end.xi)[0])
    final = np.argmax(beta_end, axis=1) + 1
    # Ratio of the top two output magnitudes at the end: how settled the winner is.
    top2 = np.sort(beta_end, axis=1)[:, -2:]
    return {
        "neurons": int(net0.width),
        "t_end": float(t_end),
        "t_end_rule": f"{t_factor} x earliest reduced blow-up among neurons",
        "exact_flow_result": str(ff.outcome_names(sol.result)),
        "exact_flow_t_stop": float(sol.t_stop),
        "max_abs_weight_end": float(max(np.abs(net_end.theta).max(), np.abs(net_end.xi).max())),
        "median_second_over_first_beta_end": float(np.median(top2[:, 0] / top2[:, 1])),
        "reduced_outcomes": red.describe(),
        "frac_final_equals_argmin_B0": float(np.mean(final == argmin_B0)),
        "frac_final_equals_reduced": float(np.mean(final == red["winner"])),
        "frac_reduced_equals_argmin_B0": float(np.mean(red["winner"] == argmin_B0)),
    }


def part_b(p, width, kappa, gaussian_scale, seed, progress, t_factor):
    out = {}
    net = ff.init_multi_frequency(jr.key(seed + 1), p, width, kappa)
    out["multi_frequency"] = _exact_flow_winners(net, p, progress, t_factor)
    net = ff.init_gaussian(jr.key(seed + 2), p, width, gaussian_scale, "quad")
    out["gaussian"] = _exact_flow_winners(net, p, progress, t_factor)
    out["gaussian"]["scale"] = gaussian_scale
    out["multi_frequency"]["kappa"] = kappa
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class Lottery(ExperimentResult):
    """Lemma C.3 part (a): `neurons` multi-frequency neurons (`p`, `kappa`) each on their
    per-frequency ODEs; `violations` of "the ranking of beta_k(t) is the reverse ranking of
    B_k(0)" among `pairs_checked` adjacent pairs, and the fraction of neurons whose winner is
    `argmin_k B_k(0)` (`None` where part (a) was not run). The other parts are in `numbers`."""

    p: int
    neurons: int | None
    kappa: float | None
    violations: int | None
    pairs_checked: int | None
    winner_equals_argmin_B0: float | None


@functools.cache
def _dominance_element(p):
    def element(x):
        sol = ff.solve_dominance(x["kappa"], x["D0"], p, x["eps"], throw=False)
        return {"t_eps": sol.ts[..., 0], "winner": sol.winner}, sol.result

    return element


def part_d(ps, epss, n_neurons, kappa, seed, progress):
    stats = {str(e): {"median": [], "p90": [], "bound_scale": []} for e in epss}
    raw = {}
    for p in ps:
        K = (p - 1) // 2
        rng = np.random.default_rng(seed + p)
        # multi_frequency(kappa): D_k0 = 2 phi_k - psi_k with i.i.d. uniform phases.
        D0 = np.mod(
            2 * rng.uniform(0, 2 * np.pi, (n_neurons, K))
            - rng.uniform(0, 2 * np.pi, (n_neurons, K)),
            2 * np.pi,
        )
        for e in epss:
            res = ff.sweep(
                _dominance_element(p),
                {"D0": D0, "kappa": np.full(n_neurons, kappa), "eps": np.full(n_neurons, e)},
                chunk_size=512,
                progress=progress,
            )
            tau = p * kappa * res["t_eps"][res.ok]
            stats[str(e)]["median"].append(float(np.median(tau)))
            stats[str(e)]["p90"].append(float(np.percentile(tau, 90)))
            stats[str(e)]["bound_scale"].append(float(np.log(p) + np.log(1 / e)))
            raw[f"{p}-{e}"] = {"n_ok": int(res.ok.sum()), "outcomes": res.describe()}
            print(f"(d) p={p} eps={e} median={np.median(tau):.4g} p90={np.percentile(tau, 90):.4g}")
    fits = {}
    for e in epss:
        for q in ("median", "p90"):
            slope, icpt = np.polyfit(np.log(ps), stats[str(e)][q], 1)
            fits[f"{q}_eps{e}"] = {"slope_vs_log_p": float(slope), "intercept": float(icpt)}
    return {
        "ps": list(ps),
        "eps": list(epss),
        "neurons_per_p": n_neurons,
        "kappa": kappa,
        "stats": stats,
        # The reduced ODE blows up: dominance comes at the winner's blow-up, whose scaled time
        # tends to tau_star(D0 = 0) = ln(1 + sqrt 2) / sqrt 2 as the best B_k(0) -> 0 (p large).
        "tau_star_aligned_limit": float(np.asarray(ff.blowup_time(1.0, 1.0, 0.0, 3)) * 3),
        "tau_star_aligned_formula": float(np.log(1 + np.sqrt(2)) / np.sqrt(2)),
        "linear_fit_in_log_p": fits,
        "runs": raw,
    }, stats


def part_e(res_a, ts, winner, p, kappa, out, n_grid, formats):
    # (e.1) Fig. 4a: the neuron whose two best frequencies are closest in B0 (a tight race).
    B0 = np.minimum(np.mod(res_a["D0"], 2 * np.pi), 2 * np.pi - np.mod(res_a["D0"], 2 * np.pi))
    s = np.sort(B0, axis=1)
    m = int(np.argmin(s[:, 1] - s[:, 0]))
    fig = lplots.plot_racing(
        ts,
        res_a["beta"][m],
        res_a["B"][m],
        int(winner[m]),
        title=f"Fig. 4a: frequencies of neuron {m} racing (p={p})",
        p=p,
        kappa=kappa,
    )
    save_figure(fig, os.path.join(out, "fig4a_racing"), formats)
    # (e.2) Fig. 4b: log beta at a fixed time over (kappa0, B0), gradient arrows by jax.grad.
    m0 = np.linspace(0.5e-3, 2e-3, n_grid)
    Bs = np.linspace(0.05, np.pi - 0.05, n_grid)
    t_fix = float(0.9 * ff.blowup_time(m0.max(), m0.max(), 0.05, p))

    def log_beta(m, B):
        controller = dfx.PIDController(rtol=1e-8, atol=1e-12)
        sol = ff.solve_reduced(m, m, B, p, jnp.array([0.0, t_fix]), stepsize_controller=controller)
        return jnp.log(sol.ys.beta[-1])

    vg = jax.jit(jax.vmap(jax.value_and_grad(log_beta, argnums=(0, 1))))
    M, Bg = np.meshgrid(m0, Bs)
    val, (gm, gB) = vg(jnp.asarray(M.ravel()), jnp.asarray(Bg.ravel()))
    val, gm, gB = (np.asarray(x).reshape(M.shape) for x in (val, gm, gB))
    # Finite-difference check of the gradient at one grid point (a second method).
    i, j = n_grid // 2, n_grid // 3
    h = 1e-6
    fd_B = (log_beta(M[i, j], Bg[i, j] + h) - log_beta(M[i, j], Bg[i, j] - h)) / (2 * h)
    fig = lplots.plot_beta_contour(
        m0, Bs, np.exp(val), grad_m=gm * np.ptp(m0), grad_B=gB * np.ptp(Bs), t=t_fix
    )
    save_figure(fig, os.path.join(out, "fig4b_contour"), formats)
    plt.close("all")
    return {
        "racing_neuron": m,
        "contour_t": t_fix,
        "grad_check_dlogbeta_dB0": {"jax_grad": float(gB[i, j]), "finite_diff": float(fd_B)},
        "contour_beta_range": [float(np.exp(val).min()), float(np.exp(val).max())],
    }


def part_c(p, seed, steps, progress):
    """Discrete training of the reference's `quad_random` setting (p=23, width 512, Gaussian
    init scale 0.1, "mean" loss) with AdamW lr 5e-5 and with SGD lr 0.1, against the two
    predictors: `argmin_k B_k(0)` and the reduced ODE from the network's own initial
    magnitudes. For SGD the flow time is known (theory eq. (6): `t = lr * steps / p^2` of the "sum"
    flow), so the reduced prediction is argmax beta_k at that time; AdamW has no such time,
    so its reduced prediction is the frequency that blows up first (the t -> t_star limit)."""
    from fourierflow import config_setup, get_config, run_config

    out = {}
    runs = (("adamw_lr5e-5", {}), ("sgd_lr0.1", {"optimizer": "sgd", "lr": 0.1}))
    for name, overrides in runs:
        cfg = get_config("quad_random", p=p, **overrides, **({"steps": steps} if steps else {}))
        net0, _ = config_setup(cfg, seed)
        res = run_config(cfg, seed=seed, progress=progress)
        alpha0, beta0, D0, B0 = _neuron_coords(net0)
        final = np.asarray(ff.dominant_frequencies(res.net))
        t_star = ff.blowup_time(alpha0, beta0, D0, p)
        first_blowup = np.argmin(t_star, axis=1) + 1
        row = {
            "steps": cfg.steps,
            "width": cfg.width,
            "lr": cfg.lr,
            "optimizer": cfg.optimizer,
            "final_train_loss": float(np.asarray(res.history.train_loss)[-1])
            if hasattr(res.history, "train_loss")
            else None,
            "frac_final_equals_argmin_B0": float(np.mean(final == np.argmin(B0, 1) + 1)),
            "frac_final_equals_first_blowup": float(np.mean(final == first_blowup)),
        }
        if cfg.optimizer == "sgd":
            t_equiv = cfg.lr * cfg.steps / p**2
            early = t_equiv < t_star.min(axis=1)
            red = ff.sweep_lottery(
                D0, p, [0.0, t_equiv], alpha0=alpha0, beta0=beta0, progress=False
            )
            pred = np.where(early, red["winner"], first_blowup)
            row |= {
                "flow_time": t_equiv,
                "frac_final_equals_reduced_at_flow_time": float(np.mean(final == pred)),
            }
        out[name] = row
        print("(c)", name, row)
    return out


def main(
    out: str = "out/lottery",
    p: int = 23,
    n_neurons: int = 10_000,
    kappa: float = 1e-3,
    n_times: int = 40,
    width: int = 256,
    gaussian_scale: float = 0.1,
    t_factor: float = 0.9,
    dominance_ps: tuple[int, ...] = (11, 23, 47, 97, 199),
    dominance_eps: tuple[float, ...] = (0.1, 0.01),
    dominance_neurons: int = 400,
    n_grid: int = 40,
    part_c_steps: int = 0,
    parts: str = "abcde",
    seed: int = 0,
    progress: bool = True,
    formats: tuple[str, ...] = ("png",),
):
    jax.config.update("jax_enable_x64", True)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "results.json")
    numbers = {"seed": seed}
    if parts != "abcde" and os.path.exists(path):  # a partial rerun keeps the other parts
        with open(path) as f:
            numbers = json.load(f)
    if "a" in parts or "e" in parts:
        a, res_a, ts, winner = part_a(p, n_neurons, kappa, n_times, seed, progress)
        numbers["a_order_preservation"] = a
        print("(a)", a)
    if "e" in parts:
        numbers["e_figure4"] = part_e(res_a, ts, winner, p, kappa, out, n_grid, formats)
        print("(e)", numbers["e_figure4"])
    if "b" in parts:
        numbers["b_exact_flow_winners"] = part_b(
            p, width, kappa, gaussian_scale, seed, progress, t_factor
        )
        print("(b)", numbers["b_exact_flow_winners"])
    if "d" in parts:
        d, stats = part_d(dominance_ps, dominance_eps, dominance_neurons, kappa, seed, progress)
        numbers["d_dominance_time"] = d
        fig = lplots.plot_dominance_scaling(dominance_ps, stats)
        save_figure(fig, os.path.join(out, "dominance_time"), formats)
        plt.close("all")
    if "c" in parts:
        numbers["c_discrete_training"] = part_c(p, seed, part_c_steps, progress)
    ff.write_json(path, numbers)
    a = numbers.get("a_order_preservation", {})
    figures = [f for f in ("fig4a_racing.png", "fig4b_contour.png") if "e" in parts]
    figures += ["dominance_time.png"] if "d" in parts else []
    return Lottery(
        numbers=numbers,
        figures=tuple(figures),
        p=p,
        neurons=a.get("neurons"),
        kappa=a.get("kappa"),
        violations=a.get("violations"),
        pairs_checked=a.get("pairs_checked"),
        winner_equals_argmin_B0=a.get("winner_equals_argmin_B0"),
    )


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
