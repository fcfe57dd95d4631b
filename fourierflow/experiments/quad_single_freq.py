"""Fig. 14: the quadratic single-frequency run keeps one frequency per neuron (Thm 5.2).

The `quad_single_freq` configuration (p = 23, width 512, quad, SGD lr 0.1, single-frequency
init kappa = 0.02, mean loss, 10000 steps): DFT heat maps of the first 20 neurons at a few
steps, the mean IPR over training (1 = single frequency), each neuron's smallest IPR, and the
largest non-feature magnitude relative to the feature's.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import fourierflow as ff
from fourierflow import write_json
from fourierflow.plots import save_figure


def main(
    out: str = "out/quad_single_freq",
    steps: int = 10_000,
    snapshots: int = 5,
    neurons_shown: int = 20,
    seed: int = 0,
    figures: bool = True,
    formats: tuple[str, ...] = ("png",),
) -> dict:
    jax.config.update("jax_enable_x64", True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = ff.get_config("quad_single_freq", steps=steps)
    result = ff.run_config(config, seed=seed, snapshot_every=steps // snapshots, progress=False)
    net0 = ff.config_setup(config, seed)[0]
    snaps, snap_steps = result.snapshots, np.asarray(result.snapshot_steps)
    M = net0.width
    k_star = np.asarray(ff.dominant_frequencies(net0))
    feature = (np.arange(M), k_star - 1)

    per_snapshot = []
    for i, step in enumerate(snap_steps):
        net = ff.TwoLayerNet(snaps.theta[i], snaps.xi[i], "quad")
        ipr = np.minimum(np.asarray(ff.ipr(net.theta)), np.asarray(ff.ipr(net.xi)))
        alpha, _ = ff.polar(net.theta)
        beta, _ = ff.polar(net.xi)
        off = []
        for mag in (np.asarray(alpha), np.asarray(beta)):
            f = mag[feature]
            rest = mag.copy()
            rest[feature] = 0.0
            off.append(rest.max(-1) / f)
        per_snapshot.append(
            dict(
                step=int(step),
                mean_ipr=float(ff.frequency_sparsity(net)),
                min_neuron_ipr=float(ipr.min()),
                max_offfeature_over_feature=float(np.max(off)),
                kept_frequency=float(np.mean(np.asarray(ff.dominant_frequencies(net)) == k_star)),
                median_beta_over_kappa=float(np.median(np.asarray(beta)[feature]) / config.kappa),
                max_abs_weight=float(jnp.max(jnp.abs(jnp.concatenate([net.theta, net.xi])))),
            )
        )
    h = result.history
    results = dict(
        config=dict(p=config.p, width=M, lr=config.lr, kappa=config.kappa, steps=steps),
        history=dict(
            step=np.asarray(h.step).tolist(),
            frequency_sparsity=np.asarray(h.frequency_sparsity).tolist(),
            train_loss=np.asarray(h.train_loss).tolist(),
            train_accuracy=np.asarray(h.train_accuracy).tolist(),
            phase_alignment=np.asarray(h.phase_alignment).tolist(),
        ),
        min_mean_ipr_over_training=float(np.min(np.asarray(h.frequency_sparsity))),
        snapshots=per_snapshot,
        run_time_s=result.run_time,
        compile_time_s=result.compile_time,
    )
    write_json(out / "fig14.json", results)

    if figures:
        import matplotlib.pyplot as plt

        from fourierflow.plots import plot_spectra

        shown = {
            f"step {int(s)}": ff.TwoLayerNet(
                snaps.theta[i][:neurons_shown], snaps.xi[i][:neurons_shown], "quad"
            )
            for i, s in enumerate(snap_steps)
        }
        fig = plot_spectra(
            shown, title=f"quad_single_freq: first {neurons_shown} neurons (Fig. 14)"
        )
        save_figure(fig, out / "fig14_spectra", formats)
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
        ax = axes[0]
        ax.plot(h.step, h.frequency_sparsity, label="mean IPR (theta and xi)")
        ax.plot(snap_steps, [s["min_neuron_ipr"] for s in per_snapshot], "o", label="smallest IPR")
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("SGD step")
        ax.set_ylabel("IPR")
        ax.set_title("frequency sparsity (1 = one frequency per neuron)")
        ax.legend()
        ax = axes[1]
        ax.plot(h.step, h.train_loss, label="train loss (mean CE)")
        ax.plot(h.step, h.phase_alignment, label="mean |sin D|")
        ax.set_yscale("log")
        ax.set_xlabel("SGD step")
        ax.set_ylabel("value")
        ax.set_title("loss and phase alignment")
        ax.legend()
        save_figure(fig, out / "fig14_ipr", formats)

    print(f"min mean IPR over training: {results['min_mean_ipr_over_training']:.6f}")
    for s in per_snapshot:
        print(s)
    return results


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
