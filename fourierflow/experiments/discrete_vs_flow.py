"""Discrete vs continuous: SGD on the mean loss follows the exact gradient flow (theory eq. (6)).

From one `quad_single_freq` initialization (p = 23, width 512, single-frequency, kappa 0.02),
full-batch SGD with step `eta` for `s` steps is compared with `solve_exact(net0, ts,
reduction="mean")` at the matched time `t = eta * s` (the flow of L_mean; equivalently the flow
of L_sum at `t = eta s / p^2`). The gap (relative Frobenius distance of the weights, and the
loss difference) should shrink ~ linearly in eta: SGD is the Euler method of the flow, and the
global error of Euler is O(eta). Checked with three learning rates; the slope of log(gap) vs
log(eta) is fitted.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fourierflow as ff
from fourierflow import write_json
from fourierflow.plots import save_figure


def _rel_gap(a: ff.TwoLayerNet, b: ff.TwoLayerNet):
    """Per time: ||(theta, xi)_a - (theta, xi)_b||_F / ||(theta, xi)_b||_F."""
    num = jnp.sum((a.theta - b.theta) ** 2, axis=(-2, -1)) + jnp.sum((a.xi - b.xi) ** 2, (-2, -1))
    den = jnp.sum(b.theta**2, axis=(-2, -1)) + jnp.sum(b.xi**2, axis=(-2, -1))
    return jnp.sqrt(num / den)


def main(
    out: str = "out/discrete_vs_flow",
    etas: tuple[float, ...] = (0.2, 0.1, 0.05),
    T: float = 750.0,
    n_saves: int = 15,
    seed: int = 0,
    figures: bool = True,
    formats: tuple[str, ...] = ("png",),
) -> dict:
    jax.config.update("jax_enable_x64", True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = ff.get_config("quad_single_freq")
    net0, _ = ff.config_setup(config, seed)
    dt = T / n_saves
    ts = jnp.linspace(0.0, T, n_saves + 1)
    x, y = ff.all_pairs(config.p)

    sol = ff.solve_exact(net0, ts, reduction="mean")
    flow = sol.ys
    # Time of the summed loss (theory eq. 6): the same trajectory at t / n (n = p^2 here).
    flow_sum = ff.solve_exact(net0, ts / config.p**2, reduction="sum").ys
    sum_vs_mean = float(jnp.max(_rel_gap(flow_sum, flow)))
    flow_loss = jax.vmap(lambda n: ff.loss(n, x, y, "mean"))(flow)
    k_star = np.asarray(ff.dominant_frequencies(net0))
    feature = (slice(None), np.arange(net0.width), k_star - 1)
    beta_flow = np.asarray(ff.polar(flow.xi)[0])[feature]

    runs = {}
    for eta in etas:
        every = round(dt / eta)
        if abs(every * eta - dt) > 1e-9 * dt:
            raise ValueError(f"T / n_saves = {dt} must be a multiple of every eta; got eta={eta}.")
        log_every = max(d for d in range(1, min(every, 100) + 1) if every % d == 0)
        result = ff.train(
            net0,
            optax.sgd(eta),
            steps=every * n_saves,
            reduction="mean",
            log_every=log_every,
            snapshot_every=every,
            progress=False,
        )
        sgd = ff.TwoLayerNet(result.snapshots.theta, result.snapshots.xi, "quad")
        sgd_loss = jax.vmap(lambda n: ff.loss(n, x, y, "mean"))(sgd)
        gap = np.asarray(_rel_gap(sgd, flow))
        runs[str(eta)] = dict(
            eta=eta,
            steps=every * n_saves,
            t=(np.asarray(result.snapshot_steps) * eta).tolist(),
            rel_weight_gap=gap.tolist(),
            loss=np.asarray(sgd_loss).tolist(),
            loss_gap=np.abs(np.asarray(sgd_loss - flow_loss)).tolist(),
            max_rel_weight_gap=float(gap.max()),
            max_loss_gap=float(np.max(np.abs(np.asarray(sgd_loss - flow_loss)))),
            beta_feature_first_neurons=np.asarray(ff.polar(sgd.xi)[0])[feature][:, :4].tolist(),
            run_time_s=result.run_time,
        )
    e = np.array([runs[str(eta)]["eta"] for eta in etas])
    g = np.array([runs[str(eta)]["max_rel_weight_gap"] for eta in etas])
    lg = np.array([runs[str(eta)]["max_loss_gap"] for eta in etas])
    slope_w = float(np.polyfit(np.log(e), np.log(g), 1)[0])
    slope_l = float(np.polyfit(np.log(e), np.log(lg), 1)[0])
    results = dict(
        p=config.p,
        width=net0.width,
        kappa=config.kappa,
        T=T,
        ts=np.asarray(ts).tolist(),
        flow=dict(
            loss=np.asarray(flow_loss).tolist(),
            t_stop=float(sol.t_stop),
            num_steps=int(sol.stats["num_steps"]),
            beta_feature_first_neurons=beta_flow[:, :4].tolist(),
            max_rel_gap_sum_flow_at_t_over_n=sum_vs_mean,
        ),
        runs=runs,
        slope_log_gap_vs_log_eta=dict(weights=slope_w, loss=slope_l),
        gap_over_eta=dict(weights=(g / e).tolist(), loss=(lg / e).tolist()),
    )
    write_json(out / "discrete_vs_flow.json", results)

    if figures:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(16, 4.2), constrained_layout=True)
        t = np.asarray(ts)
        ax = axes[0]
        ax.plot(t, flow_loss, "k-", lw=2, label="exact flow (solve_exact)")
        for i, eta in enumerate(etas):
            ax.plot(t, runs[str(eta)]["loss"], "o--", color=f"C{i}", ms=4, label=f"SGD eta={eta}")
        ax.set_yscale("log")
        ax.set_xlabel("t = eta * steps")
        ax.set_ylabel("mean cross-entropy")
        ax.set_title(f"quad_single_freq init (p={config.p}, M={net0.width})")
        ax.legend(fontsize=8)
        ax = axes[1]
        for n in range(4):
            ax.plot(
                t,
                beta_flow[:, n] / config.kappa,
                "k-",
                lw=1.5,
                label="exact flow" if n == 0 else None,
            )
            for i, eta in enumerate(etas):
                b = np.array(runs[str(eta)]["beta_feature_first_neurons"])[:, n]
                ax.plot(
                    t,
                    b / config.kappa,
                    "o",
                    color=f"C{i}",
                    ms=3,
                    label=f"SGD eta={eta}" if n == 0 else None,
                )
        ax.set_xlabel("t = eta * steps")
        ax.set_ylabel("beta_k* / kappa")
        ax.set_title("feature magnitude of 4 neurons")
        ax.legend(fontsize=8)
        ax = axes[2]
        for i, eta in enumerate(etas):
            ax.semilogy(
                t[1:],
                np.array(runs[str(eta)]["rel_weight_gap"])[1:],
                "o-",
                color=f"C{i}",
                label=f"weights, eta={eta}",
            )
            ax.semilogy(
                t[1:],
                np.array(runs[str(eta)]["rel_weight_gap"])[1:] / eta * etas[-1],
                ":",
                color=f"C{i}",
                label=f"x {etas[-1]}/eta (collapses onto eta={etas[-1]})",
            )
        ax.set_xlabel("t = eta * steps")
        ax.set_ylabel("||W_sgd - W_flow|| / ||W_flow||")
        ax.set_title(f"gap ~ eta^{slope_w:.2f} (loss gap ~ eta^{slope_l:.2f})")
        ax.legend(fontsize=7)
        save_figure(fig, out / "discrete_vs_flow", formats)

    print(f"flow: t_stop={float(sol.t_stop)}, steps={int(sol.stats['num_steps'])}")
    print(f"flow of L_sum at t/p^2 vs flow of L_mean at t: max rel gap {sum_vs_mean:.2e}")
    for eta in etas:
        r = runs[str(eta)]
        print(
            f"eta={eta}: max rel weight gap {r['max_rel_weight_gap']:.3e}, "
            f"max loss gap {r['max_loss_gap']:.3e} ({r['steps']} steps, {r['run_time_s']:.1f} s)"
        )
    print(f"slopes log gap / log eta: weights {slope_w:.3f}, loss {slope_l:.3f}")
    return results


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
