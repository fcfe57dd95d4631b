"""Fig. 9 / Obs. 7: ReLU leakage of a single-frequency neuron into the harmonics r k* (Prop 6.3).

Part 1 (the law, large p): the spectrum of the main-flow descent direction (softmax replaced by
uniform: `fourierflow.decoupled_loss`) at one single-frequency ReLU neuron, for p = 199 and
997, against `leakage_ratio_law`: xi leaks into every r with ratio 3 / (4 r^2 - 1); theta only
into odd r, ratio c_r(D) / c_1(D) (= 3 / |r^2 - 4| when aligned). The exact cross-entropy
gradient at small kappa (p = 199) is shown too.
Part 2 (training): the `relu_single_freq` run (p = 23, width 512, SGD): the spectrum of every
neuron's weights, and of their change since initialization, read at r k*.
"""

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import fourierflow as ff
from fourierflow import write_json
from fourierflow.plots import save_figure


def _neuron(p, k, phi, psi, kappa):
    j = jnp.arange(p)
    w = 2 * math.pi * k / p
    return ff.TwoLayerNet(
        kappa * jnp.cos(w * j + phi)[None], kappa * jnp.cos(w * j + psi)[None], "relu"
    )


def _ratios_by_order(spectrum, k_star, p, r_max):
    """Per neuron: magnitude at r k* over magnitude at k*, r = 1..r_max (NaN where r k* = 0)."""
    orders = ff.harmonic_orders(p, int(k_star))
    out = np.full(r_max, np.nan)
    for k, r in enumerate(orders, start=1):
        if 1 <= r <= r_max:
            out[r - 1] = spectrum[k - 1] / spectrum[k_star - 1]
    return out


def main(
    out: str = "out/relu_leakage",
    ps: tuple[int, ...] = (199, 997),
    Ds: tuple[float, ...] = (0.0, 1.0, 2.0),
    r_max: int = 11,
    kappa: float = 1e-3,
    exact_p: int = 199,
    train_steps: int = 10_000,
    seed: int = 0,
    aligned_B0: float = 0.3,
    figures: bool = True,
    formats: tuple[str, ...] = ("png",),
) -> dict:
    jax.config.update("jax_enable_x64", True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    r = np.arange(1, r_max + 1)
    law_xi = np.asarray(ff.leakage_ratio_law(r, "xi"))
    phi = 0.4

    # Part 1: gradient spectra vs the law.
    part1 = {}
    for p in ps:
        for D in Ds:
            s = ff.gradient_spectrum(_neuron(p, 1, phi, 2 * phi - D, kappa))
            xi_r = np.asarray(ff.leakage_ratios(s["beta"][0], 1, r_max))
            th_r = np.asarray(ff.leakage_ratios(s["alpha"][0], 1, r_max))
            law_th = np.asarray(ff.leakage_ratio_law(r, "theta", D))
            part1[f"p={p},D={D}"] = dict(
                xi=xi_r.tolist(),
                theta=th_r.tolist(),
                law_xi=law_xi.tolist(),
                law_theta=law_th.tolist(),
                max_rel_err_xi=float(np.max(np.abs(xi_r / law_xi - 1))),
                max_abs_err_theta=float(np.max(np.abs(th_r - law_th))),
            )
    s = ff.gradient_spectrum(_neuron(exact_p, 1, phi, 2 * phi, kappa), softmax="exact")
    exact = dict(
        p=exact_p,
        kappa=kappa,
        xi=np.asarray(ff.leakage_ratios(s["beta"][0], 1, r_max)).tolist(),
        theta=np.asarray(ff.leakage_ratios(s["alpha"][0], 1, r_max)).tolist(),
    )
    exact["max_rel_err_xi"] = float(np.max(np.abs(np.array(exact["xi"]) / law_xi - 1)))

    # Part 2: the relu_single_freq training run (p = 23).
    config = ff.get_config("relu_single_freq", steps=train_steps)
    result = ff.run_config(config, seed=seed, snapshot_every=train_steps // 10, progress=False)
    net0, net1 = ff.config_setup(config, seed)[0], result.net
    p = config.p
    K = ff.num_frequencies(p)
    r_train = min(r_max, K)
    k_star = np.asarray(ff.dominant_frequencies(net0))
    sp1 = ff.neuron_spectrum(net1)
    delta = ff.TwoLayerNet(net1.theta - net0.theta, net1.xi - net0.xi, "relu")
    alpha_d, _ = ff.polar(delta.theta)
    beta_d, _ = ff.polar(delta.xi)

    # Neurons starting aligned (B0 small) keep their phases, so phase rotation cannot explain
    # a departure from the law there.
    D0 = np.asarray(ff.neuron_spectrum(net0)["D"])[np.arange(len(k_star)), k_star - 1]
    aligned0 = np.asarray(ff.misalignment(D0)) < aligned_B0

    def table(spec, mask=None):
        spec = np.asarray(spec)
        idx = np.arange(len(spec)) if mask is None else np.flatnonzero(mask)
        rows = np.stack([_ratios_by_order(spec[m], k_star[m], p, r_train) for m in idx])
        return np.nanmedian(rows, axis=0)

    # The law is for the gradient AT a single-frequency neuron: follow the weight change's
    # spectrum over training, as theta acquires its own 3k*, 5k* components.
    snaps = result.snapshots
    by_snapshot = []
    for i in range(1, len(result.snapshot_steps)):
        beta_i, _ = ff.polar(snaps.xi[i] - snaps.xi[0])
        alpha_i, _ = ff.polar(snaps.theta[i] - snaps.theta[0])
        theta_i, _ = ff.polar(snaps.theta[i])
        by_snapshot.append(
            dict(
                step=int(result.snapshot_steps[i]),
                change_xi=table(beta_i).tolist(),
                change_theta=table(alpha_i).tolist(),
                weights_theta=table(theta_i).tolist(),
            )
        )

    D_end = np.asarray(sp1["D"])[np.arange(len(k_star)), k_star - 1]
    r_t = np.arange(1, r_train + 1)
    train = dict(
        p=p,
        steps=train_steps,
        lr=config.lr,
        kappa=config.kappa,
        growth_beta_median=float(
            np.median(np.asarray(sp1["beta"])[np.arange(len(k_star)), k_star - 1] / config.kappa)
        ),
        median_abs_sin_D_end=float(np.median(np.abs(np.sin(D_end)))),
        weights_theta=table(sp1["alpha"]).tolist(),
        weights_xi=table(sp1["beta"]).tolist(),
        change_theta=table(alpha_d).tolist(),
        change_xi=table(beta_d).tolist(),
        aligned_B0=aligned_B0,
        n_aligned=int(aligned0.sum()),
        change_xi_aligned=table(beta_d, aligned0).tolist(),
        change_theta_aligned=table(alpha_d, aligned0).tolist(),
        law_xi=np.asarray(ff.leakage_ratio_law(r_t, "xi")).tolist(),
        law_theta_aligned=np.asarray(ff.leakage_ratio_law(r_t, "theta", 0.0)).tolist(),
        ipr_end=float(ff.frequency_sparsity(net1)),
        train_loss_end=float(result.history.train_loss[-1]),
        run_time_s=result.run_time,
        by_snapshot=by_snapshot,
    )
    results = dict(part1=part1, exact_softmax=exact, training=train)
    write_json(out / "leakage.json", results)

    if figures:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 4, figsize=(20, 4.2), constrained_layout=True)
        ax = axes[0]
        for p in ps:
            ax.semilogy(r, part1[f"p={p},D={Ds[0]}"]["xi"], "o", mfc="none", label=f"xi, p={p}")
        ax.semilogy(r, exact["xi"], "x", label=f"xi, exact softmax, p={exact_p}")
        ax.semilogy(r, law_xi, "k-", label="law 3/(4r^2-1)")
        ax.set_xlabel("harmonic order r (frequency r k*)")
        ax.set_ylabel("|grad| at r k* / |grad| at k*")
        ax.set_title("output layer xi: leakage at every r")
        ax.legend(fontsize=8)
        ax = axes[1]
        odd = r % 2 == 1
        for i, D in enumerate(Ds):
            for p in ps:
                ax.semilogy(
                    r[odd],
                    np.array(part1[f"p={p},D={D}"]["theta"])[odd],
                    "o",
                    mfc="none",
                    color=f"C{i}",
                    label=f"theta, p={p}, D={D}",
                )
            ax.semilogy(
                r[odd],
                np.asarray(ff.leakage_ratio_law(r, "theta", D))[odd],
                "-",
                color=f"C{i}",
                label=f"law c_r(D)/c_1(D), D={D}",
            )
        even = np.max([np.array(v["theta"])[~odd].max() for v in part1.values()])
        ax.set_xlabel("harmonic order r (odd)")
        ax.set_ylabel("|grad| at r k* / |grad| at k*")
        ax.set_title(f"input layer theta: odd r only (even r <= {even:.1e})")
        ax.legend(fontsize=6, ncol=2)
        ax = axes[2]
        ax.semilogy(r_t, train["change_xi"], "o-", label="xi(T) - xi(0)")
        ax.semilogy(r_t, train["change_theta"], "s-", label="theta(T) - theta(0)")
        ax.semilogy(
            r_t,
            train["change_xi_aligned"],
            "o--",
            color="C0",
            mfc="none",
            label=f"xi change, neurons with B0 < {aligned_B0}",
        )
        ax.semilogy(r_t, train["law_xi"], "k--", label="law, xi")
        ax.semilogy(
            r_t[r_t % 2 == 1],
            np.array(train["law_theta_aligned"])[r_t % 2 == 1],
            "k:",
            label="law, theta (D=0)",
        )
        ax.set_xlabel("harmonic order r")
        ax.set_ylabel("median over neurons of ratio to k*")
        ax.set_title(f"relu_single_freq, p={train['p']}, {train_steps} SGD steps: weight change")
        ax.legend(fontsize=8)
        ax = axes[3]
        steps_s = [b["step"] for b in by_snapshot]
        for i, rr in enumerate((2, 3, 4)):
            ax.plot(
                steps_s,
                [b["change_xi"][rr - 1] for b in by_snapshot],
                "o-",
                color=f"C{i}",
                label=f"xi change, r={rr}",
            )
            ax.axhline(law_xi[rr - 1], color=f"C{i}", ls="--", lw=1, label=f"law, r={rr}")
        ax.plot(
            steps_s,
            [b["weights_theta"][2] for b in by_snapshot],
            "s:",
            color="C3",
            label="theta's own 3k* / k* (weights)",
        )
        ax.set_yscale("log")
        ax.set_xlabel("SGD step")
        ax.set_ylabel("median ratio to k*")
        ax.set_title("leakage of the weight change over training")
        ax.legend(fontsize=7)
        save_figure(fig, out / "leakage_law", formats)

        from fourierflow.plots import plot_spectra

        order = np.argsort(k_star[:20], kind="stable")
        nets = {
            "init": ff.TwoLayerNet(net0.theta[:20][order], net0.xi[:20][order], "relu"),
            f"step {train_steps}": ff.TwoLayerNet(
                net1.theta[:20][order], net1.xi[:20][order], "relu"
            ),
        }
        fig = plot_spectra(nets, title="relu_single_freq: first 20 neurons (Fig. 9a)")
        save_figure(fig, out / "fig9_spectra", formats)

    print("xi law      ", np.round(law_xi, 4))
    for key, v in part1.items():
        print(
            f"{key:14s} xi rel err {v['max_rel_err_xi']:.2e}"
            f"  theta abs err {v['max_abs_err_theta']:.2e}"
        )
    print(f"exact softmax p={exact_p}: xi rel err {exact['max_rel_err_xi']:.2e}")
    print("training:", {k: v for k, v in train.items() if not isinstance(v, list)})
    print("  change xi   ", np.round(train["change_xi"], 4))
    print("  law xi      ", np.round(train["law_xi"], 4))
    print("  change xi (aligned at init)", np.round(train["change_xi_aligned"], 4))
    print("  change theta", np.round(train["change_theta"], 4))
    print("  change theta (aligned)", np.round(train["change_theta_aligned"], 4))
    print("  weights xi  ", np.round(train["weights_xi"], 4))
    for b in by_snapshot:
        print(
            f"  step {b['step']:6d}: change xi r=2..4 {np.round(b['change_xi'][1:4], 4)}"
            f"  theta 3k*/k* {b['weights_theta'][2]:.4f}"
        )
    return results


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
