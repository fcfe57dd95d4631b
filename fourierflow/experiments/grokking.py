"""Fig. 5 and Figs. 10-12: grokking in three stages (paper Sec. 3.3 and A.1).

Trains the `grokking` configuration (ReLU, p = 23, width 512, AdamW lr 1e-4, weight decay 2.0,
train fraction 0.75, 50000 steps; cached under `checkpoint_dir`) and reports:

- Fig. 5: train/test loss and accuracy, mean `|sin D|`, IPR and norm over time, the three
  stages shaded by the reference's rule (`grokking_stages`: first step with train accuracy
  >= 0.95 ends memorization, the first later step with test accuracy >= 0.95 ends the first
  generalization stage; reference: about 1.7k and 9.4k steps).
- Figs. 10-11: accuracy on common / rare train pairs and mirror-covered / unseen test pairs
  over time, and per-pair heat maps at the end of memorization.
- Fig. 12: DFT magnitudes of the first 20 neurons over training.

`b2`: AdamW's second-moment decay (default 0.98 as in `fourierflow.CONFIGS`, which explains
the choice; 0.999 is PyTorch's default).
"""

from pathlib import Path

import jax
import numpy as np

import fourierflow as ff
from fourierflow import write_json
from fourierflow.plots import save_figure

PAPER = dict(t_memorized=1700, t_generalized=9400, initial_test_accuracy=0.05)


def _at(history: dict, step: int) -> dict:
    i = int(np.searchsorted(history["step"], step))
    return {k: v[min(i, len(v) - 1)] for k, v in history.items()}


def main(
    out: str = "out/grokking",
    seed: int = 0,
    steps: int = 50_000,
    snapshot_every: int = 500,
    threshold: float = 0.95,
    b2: float = 0.98,
    checkpoint_dir: str | None = None,
    checkpoint_every: int = 5000,
    figures: bool = True,
    formats: tuple[str, ...] = ("png",),
) -> dict:
    jax.config.update("jax_enable_x64", True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = ff.run_config(
        "grokking",
        seed,
        steps=steps,
        b2=b2,
        snapshot_every=snapshot_every,
        checkpoint_dir=checkpoint_dir or str(out / f"checkpoint_seed{seed}_steps{steps}_b2_{b2}"),
        checkpoint_every=checkpoint_every,
        resume=True,
    )
    _, split = ff.config_setup(ff.get_config("grokking", steps=steps), seed)
    h = {k: np.asarray(v) for k, v in result.history.as_dict().items()}
    t1, t2 = ff.grokking_stages(result.history, threshold)
    snap_steps = np.asarray(result.snapshot_steps)

    def snapshot(step):
        i = min(int(np.searchsorted(snap_steps, step)), len(snap_steps) - 1)
        return int(snap_steps[i]), jax.tree.map(lambda a: a[i], result.snapshots)

    i_peak = int(np.argmax(h["weight_norm"]))
    n_memo = len(h["step"]) if t1 is None else max(1, int(np.searchsorted(h["step"], t1)))
    i_min_test = int(np.argmin(h["test_accuracy"][:n_memo]))
    counts = {
        name: int(np.asarray(getattr(split, name)).sum())
        for name in ("common", "rare", "mirror_covered", "unseen")
    }
    results = dict(
        config="grokking",
        b2=b2,
        seed=seed,
        steps=steps,
        threshold=threshold,
        stages=dict(t_memorized=t1, t_generalized=t2),
        paper=PAPER,
        class_sizes=counts,
        initial=_at(h, 0),
        at_step_1000=_at(h, 1000),
        at_t_memorized=_at(h, t1) if t1 is not None else None,
        at_t_generalized=_at(h, t2) if t2 is not None else None,
        final=_at(h, steps),
        min_test_accuracy_before_t_memorized=dict(
            step=int(h["step"][i_min_test]), value=float(h["test_accuracy"][i_min_test])
        ),
        peak_norm=dict(step=int(h["step"][i_peak]), value=float(h["weight_norm"][i_peak])),
        first_step_rare_accuracy_above_0p95=_first(h, "rare_accuracy", threshold),
        first_step_common_accuracy_above_0p95=_first(h, "common_accuracy", threshold),
        first_step_unseen_accuracy_above_0p95=_first(h, "unseen_accuracy", threshold),
        compile_time_s=result.compile_time,
        run_time_s=result.run_time,
    )
    write_json(out / "grokking.json", results)
    write_json(out / "history.json", h)

    if figures:
        from fourierflow.plots.training import (
            plot_dft_over_training,
            plot_history,
            plot_memorization,
            plot_pair_heatmaps,
        )

        fig = plot_history(
            result.history,
            (t1, t2),
            xscale="symlog",
            title=f"Fig. 5: grokking (p=23, 75% train, wd 2.0); stages at {t1} and {t2} steps",
        )
        save_figure(fig, out / "fig5_progress", formats)
        save_figure(
            plot_memorization(result.history, (t1, t2)), out / "fig11_memorization", formats
        )
        for label, step in (("step1000", 1000), ("end_of_memorization", t1 or steps)):
            s, net = snapshot(step)
            fig = plot_pair_heatmaps(net, split, title=f"Fig. 10: pairs at step {s} ({label})")
            save_figure(fig, out / f"fig10_pairs_{label}", formats)
        shown = [0, 1000, t1 or 2000, 5000, t2 or 10_000, 20_000, steps]
        picked = sorted({snapshot(s)[0] for s in shown if s <= steps})
        idx = [int(np.searchsorted(snap_steps, s)) for s in picked]
        snaps = jax.tree.map(lambda a: a[np.asarray(idx)], result.snapshots)
        fig = plot_dft_over_training(
            snaps,
            picked,
            range(20),
            title="Fig. 12: DFT of xi for the first 20 neurons over training",
        )
        save_figure(fig, out / "fig12_dft", formats)

    print(
        f"grokking (seed {seed}): stages at {t1} and {t2} steps [paper ~1700, ~9400]; "
        f"final train/test accuracy {h['train_accuracy'][-1]:.3f}/{h['test_accuracy'][-1]:.3f}; "
        f"peak norm at step {results['peak_norm']['step']}"
    )
    a = results["at_step_1000"]
    print(
        f"  step 1000: common {a['common_accuracy']:.3f}, rare {a['rare_accuracy']:.3f}, "
        f"mirror-covered {a['mirror_covered_accuracy']:.3f}, unseen {a['unseen_accuracy']:.3f}"
    )
    if t1 is not None:
        a = results["at_t_memorized"]
        print(
            f"  step {t1}: common {a['common_accuracy']:.3f}, rare {a['rare_accuracy']:.3f}, "
            f"mirror-covered {a['mirror_covered_accuracy']:.3f}, unseen "
            f"{a['unseen_accuracy']:.3f}, test {a['test_accuracy']:.3f}"
        )
    return results


def _first(h, name, threshold):
    ok = h[name] >= threshold
    return int(h["step"][np.argmax(ok)]) if ok.any() else None


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
