"""Obs. 1-3, the grokking stages and Table 1 as distributions over 32 seeds (paper Secs. 3.1,
3.3, Table 1), each beside the paper's single value.

The paper reports every empirical claim from one training run. Here the `standard` and the
`grokking` configurations are each trained as ONE ensemble over `seeds` seeds
(`fourierflow.run_ensemble`: every seed a member of one compiled program; a member equals its
solo `run_config` run to rounding), and each claim becomes a distribution, reported as mean,
standard deviation, min and max:

- Obs. 1 (standard, `standard_steps`): the fraction of neurons with > 80% of their non-DC
  energy in one frequency (output layer `xi`, as `standard_features` headlines; paper 76%);
  also for `theta` and for both layers at once.
- Obs. 2: mean `|sin D|` at the dominant frequency (paper 0.085).
- Obs. 3: the fewest and the most neurons per dominant frequency (paper 35 and 59).
- Grokking (`grokking_steps`): the stage boundaries of `fourierflow.grokking_stages`
  (paper ~1.7k and ~9.4k steps); a member that does not reach a boundary within the run is
  counted, not averaged.
- Table 1 (standard, `table1_steps`): loss and accuracy of the trained network with its
  activation swapped, per activation (`activation_swap.swap_table`).

The standard ensemble runs to `max(standard_steps, table1_steps)` with snapshots at both. Both
ensembles keep checkpoints under `out/checkpoints` and resume from them, so a second run
(or one after an interruption) reuses the training.
"""

import dataclasses
import math
import time
from pathlib import Path

import jax
import numpy as np

import fourierflow as ff
from fourierflow import write_json
from fourierflow.experiments._result import ExperimentResult
from fourierflow.experiments.activation_swap import (
    ACTIVATIONS,
    PAPER_ACCURACY,
    PAPER_LOSS,
    swap_table,
)
from fourierflow.experiments.grokking import PAPER as PAPER_GROKKING
from fourierflow.experiments.standard_features import PAPER as PAPER_FEATURES, features_summary
from fourierflow.plots import save_figure


@dataclasses.dataclass(frozen=True, kw_only=True)
class SeedDistributions(ExperimentResult):
    """The paper's empirical claims as distributions over seeds.

    Each statistic is a dict `mean`, `std`, `min`, `max`, `n` (the members it is over),
    `paper` (the paper's single value) and `values` (one per member, in seed order).

    **Fields:**

    - `seeds`: the seeds of both ensembles (`grokking_seeds` for the grokking one).
    - `fraction_energy_above_0p8`: Obs. 1 for the output layer `xi` (paper 0.76).
    - `mean_abs_sin_D`: Obs. 2 (paper 0.085).
    - `neurons_per_frequency_min`, `neurons_per_frequency_max`: Obs. 3 (paper 35, 59).
    - `t_memorized`, `t_generalized`: the grokking stage boundaries over the members that
      reached them (paper 1700, 9400); `grokking_reached`: how many reached each.
    - `table1_loss`, `table1_accuracy`: per activation of Table 1.
    - `steps`: the training lengths used; `run_time_s`: wall seconds per ensemble.
    """

    seeds: tuple[int, ...]
    grokking_seeds: tuple[int, ...]
    fraction_energy_above_0p8: dict
    mean_abs_sin_D: dict
    neurons_per_frequency_min: dict
    neurons_per_frequency_max: dict
    t_memorized: dict
    t_generalized: dict
    grokking_reached: dict
    table1_loss: dict
    table1_accuracy: dict
    steps: dict
    run_time_s: dict


def spread(values, paper=None) -> dict:
    """Mean, standard deviation (ddof 1), min and max of `values` (non-finite ones and `None`
    left out and counted), with the paper's value."""
    kept = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    a = np.asarray(kept)
    return dict(
        mean=float(a.mean()) if a.size else None,
        std=float(a.std(ddof=1)) if a.size > 1 else None,
        min=float(a.min()) if a.size else None,
        max=float(a.max()) if a.size else None,
        n=int(a.size),
        left_out=len(values) - int(a.size),
        paper=paper,
        values=[None if v is None else float(v) for v in values],
    )


def _member(tree, i):
    return jax.tree.map(lambda a: a[i], tree)


def _snapshot(result, step: int) -> ff.TwoLayerNet:
    i = int(np.flatnonzero(np.asarray(result.snapshot_steps) == step)[0])
    return jax.tree.map(lambda a: a[:, i], result.snapshots)


def main(
    out: str = "out/seed_distributions",
    seeds: int = 32,
    first_seed: int = 0,
    grokking_seeds: int | None = None,
    standard_steps: int = 5000,
    table1_steps: int = 10_000,
    grokking_steps: int = 50_000,
    p: int | None = None,
    width: int | None = None,
    log_every: int = 100,
    threshold: float = 0.95,
    checkpoint_every: int = 5000,
    figures: bool = True,
    formats: tuple[str, ...] = ("png",),
) -> SeedDistributions:
    """Train both ensembles, gather the statistics, write `results.json` and the figures.

    `seeds` members (seeds `first_seed`, ...) per configuration (`grokking_seeds` for the
    grokking one, default `seeds`); `p` and `width` override both configurations (for a
    small run); every length is a keyword. The defaults are the full experiment.
    """
    jax.config.update("jax_enable_x64", True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = {k: v for k, v in dict(p=p, width=width).items() if v is not None}
    seed_list = tuple(range(first_seed, first_seed + seeds))
    grok_list = tuple(range(first_seed, first_seed + (grokking_seeds or seeds)))
    long_steps = max(standard_steps, table1_steps)
    snapshot_every = math.gcd(standard_steps, table1_steps)
    common = dict(log_every=log_every, checkpoint_every=checkpoint_every, resume=True, throw=False)

    t0 = time.perf_counter()
    standard = ff.run_ensemble(
        "standard",
        seed_list,
        steps=long_steps,
        snapshot_every=snapshot_every,
        checkpoint_dir=str(out / "checkpoints" / f"standard_{long_steps}"),
        **sizes,
        **common,
    )
    t_standard = time.perf_counter() - t0
    t0 = time.perf_counter()
    grokking = ff.run_ensemble(
        "grokking",
        grok_list,
        steps=grokking_steps,
        checkpoint_dir=str(out / "checkpoints" / f"grokking_{grokking_steps}"),
        **sizes,
        **common,
    )
    t_grokking = time.perf_counter() - t0

    # Obs. 1-3 at `standard_steps`, Table 1 at `table1_steps`, per member.
    nets_features = _snapshot(standard, standard_steps)
    nets_table = _snapshot(standard, table1_steps)
    features, tables = [], []
    for i in range(len(seed_list)):
        if int(standard.step[i]) < long_steps:  # diverged: no statistics from it
            features.append(None)
            tables.append(None)
            continue
        summary = features_summary(_member(nets_features, i))
        summary.pop("_per_neuron")
        features.append(summary)
        tables.append(swap_table(_member(nets_table, i)))

    def column(fn):
        return [None if f is None else fn(f) for f in features]

    obs1_xi = column(lambda f: f["xi"]["fraction_energy_above_0p8"])
    obs2 = column(lambda f: f["mean_abs_sin_D"])
    lo, hi = PAPER_FEATURES["neurons_per_frequency"]
    stats = dict(
        fraction_energy_above_0p8=spread(obs1_xi, PAPER_FEATURES["fraction_energy_above_0p8"]),
        mean_abs_sin_D=spread(obs2, PAPER_FEATURES["mean_abs_sin_D"]),
        neurons_per_frequency_min=spread(column(lambda f: f["neurons_per_frequency_range"][0]), lo),
        neurons_per_frequency_max=spread(column(lambda f: f["neurons_per_frequency_range"][1]), hi),
    )
    extra_features = dict(
        fraction_energy_above_0p8_theta=spread(
            column(lambda f: f["theta"]["fraction_energy_above_0p8"])
        ),
        fraction_both_layers_energy_above_0p8=spread(
            column(lambda f: f["fraction_both_layers_energy_above_0p8"])
        ),
        every_frequency_used=column(lambda f: f["every_frequency_used"]),
    )
    table_loss = {
        name: spread([None if t is None else t[name]["loss"] for t in tables], PAPER_LOSS[name])
        for name in ACTIVATIONS
    }
    table_loss_log1p = {
        name: spread([None if t is None else t[name]["loss_log1p"] for t in tables])
        for name in ACTIVATIONS
    }
    table_accuracy = {
        name: spread(
            [None if t is None else t[name]["accuracy"] for t in tables], PAPER_ACCURACY[name]
        )
        for name in ACTIVATIONS
    }

    stages = [
        ff.grokking_stages(grokking.member(i).history, threshold) for i in range(len(grok_list))
    ]
    t1 = spread([s[0] for s in stages], PAPER_GROKKING["t_memorized"])
    t2 = spread([s[1] for s in stages], PAPER_GROKKING["t_generalized"])
    reached = dict(
        t_memorized=sum(s[0] is not None for s in stages),
        t_generalized=sum(s[1] is not None for s in stages),
        of=len(grok_list),
        within_steps=grokking_steps,
    )
    final_test = spread(
        [grokking.member(i).history.test_accuracy[-1] for i in range(len(grok_list))]
    )

    steps = dict(
        standard_features=standard_steps,
        table1=table1_steps,
        grokking=grokking_steps,
        full_experiment=dict(seeds=32, standard_features=5000, table1=10_000, grokking=50_000),
        log_every=log_every,
    )
    run_time = dict(
        standard=t_standard,
        grokking=t_grokking,
        standard_training=standard.run_time,
        grokking_training=grokking.run_time,
        standard_compile=standard.compile_time,
        grokking_compile=grokking.compile_time,
    )
    numbers = dict(
        seeds=list(seed_list),
        grokking_seeds=list(grok_list),
        sizes=sizes or None,
        steps=steps,
        outcomes=dict(
            standard=ff.outcome_names(standard.result).tolist(),
            grokking=ff.outcome_names(grokking.result).tolist(),
        ),
        **stats,
        **extra_features,
        t_memorized=t1,
        t_generalized=t2,
        grokking_reached=reached,
        grokking_final_test_accuracy=final_test,
        table1_loss=table_loss,
        table1_loss_log1p=table_loss_log1p,
        table1_accuracy=table_accuracy,
        per_member_features=features,
        run_time_s=run_time,
    )
    write_json(out / "results.json", numbers)

    drawn = []
    if figures:
        from fourierflow.plots.training import plot_ensemble_history

        save_figure(
            plot_ensemble_history(standard.history, title=f"standard, {len(seed_list)} seeds"),
            out / "history_standard",
            formats,
        )
        save_figure(
            plot_ensemble_history(
                grokking.history, xscale="symlog", title=f"grokking, {len(grok_list)} seeds"
            ),
            out / "history_grokking",
            formats,
        )
        save_figure(_plot_distributions(numbers), out / "distributions", formats)
        stems = ("history_standard", "history_grokking", "distributions")
        drawn = [f"{stem}.{fmt}" for stem in stems for fmt in formats]

    def show(name, s, fmt=".3g"):
        if s["n"] == 0:
            return f"  {name}: none of {len(s['values'])} [paper {s['paper']}]"
        std = "n/a" if s["std"] is None else format(s["std"], fmt)
        return (
            f"  {name}: {s['mean']:{fmt}} +- {std} (min {s['min']:{fmt}}, max {s['max']:{fmt}}, "
            f"n={s['n']}) [paper {s['paper']}]"
        )

    print(f"seed distributions: {len(seed_list)} seeds (standard), {len(grok_list)} (grokking)")
    print(show("Obs 1: fraction energy > 0.8 (xi)", stats["fraction_energy_above_0p8"]))
    print(show("Obs 2: mean |sin D|", stats["mean_abs_sin_D"]))
    print(show("Obs 3: fewest neurons per frequency", stats["neurons_per_frequency_min"]))
    print(show("Obs 3: most neurons per frequency", stats["neurons_per_frequency_max"]))
    print(show("grokking t_memorized", t1, ".4g"))
    print(show("grokking t_generalized", t2, ".4g"))
    for name in ACTIVATIONS:
        print(show(f"Table 1 {name} accuracy", table_accuracy[name]))
        print(show(f"Table 1 {name} loss", table_loss[name]))
    print(f"  run time: standard {t_standard:.0f} s, grokking {t_grokking:.0f} s")
    return SeedDistributions(
        numbers=numbers,
        figures=tuple(drawn),
        seeds=seed_list,
        grokking_seeds=grok_list,
        **stats,
        t_memorized=t1,
        t_generalized=t2,
        grokking_reached=reached,
        table1_loss=table_loss,
        table1_accuracy=table_accuracy,
        steps=steps,
        run_time_s=run_time,
    )


def _plot_distributions(numbers: dict):
    """Per-seed values of each claim (dots), their mean +- s.d. (bar) and the paper (star)."""
    import matplotlib.pyplot as plt

    from fourierflow.plots import PAGE_WIDTH

    panels = [
        ("fraction_energy_above_0p8", "Obs. 1: fraction of neurons\nwith > 80% energy in one k"),
        ("mean_abs_sin_D", "Obs. 2: mean |sin D|"),
        ("neurons_per_frequency_min", "Obs. 3: fewest neurons\nper frequency"),
        ("neurons_per_frequency_max", "Obs. 3: most neurons\nper frequency"),
        ("t_memorized", "grokking: end of\nmemorization (steps)"),
        ("t_generalized", "grokking: end of\ngeneralization I (steps)"),
    ]
    fig, axes = plt.subplots(
        2, 4, figsize=(PAGE_WIDTH, 4.6), layout="constrained", gridspec_kw=dict(hspace=0.1)
    )
    axes = axes.ravel()
    rng = np.random.default_rng(0)
    for ax, (key, label) in zip(axes, panels, strict=False):
        s = numbers[key]
        v = np.asarray([x for x in s["values"] if x is not None], float)
        ax.plot(rng.uniform(-0.15, 0.15, v.size), v, ".", color="C0", ms=3, label="one seed")
        if s["n"]:
            bar = dict(fmt="s", color="k", ms=3, capsize=2, label="mean $\\pm$ s.d.")
            ax.errorbar(0.35, s["mean"], yerr=s["std"] or 0, **bar)
        if s["paper"] is not None:
            ax.plot(0.6, s["paper"], "*", color="C3", ms=8, label="paper")
        ax.set_xlim(-0.4, 0.9)
        ax.set_xticks([])
        ax.set_title(label, fontsize=7)
        ax.tick_params(labelsize=7)
    names = list(numbers["table1_accuracy"])
    pos = np.arange(len(names))
    table_panels = ((axes[6], "table1_accuracy", "accuracy"), (axes[7], "table1_loss", "loss"))
    for ax, key, ylabel in table_panels:
        rows = numbers[key]
        for j, n in enumerate(names):
            v = np.asarray([x for x in rows[n]["values"] if x is not None], float)
            if key == "table1_loss":
                v = np.maximum(v, 1e-16)
            ax.plot(j + rng.uniform(-0.15, 0.15, v.size), v, ".", color="C0", ms=2)
            paper = rows[n]["paper"]
            if paper is not None:
                shown = max(paper, 1e-16) if key == "table1_loss" else paper
                ax.plot(j + 0.3, shown, "*", color="C3", ms=6)
        ax.set_xticks(pos, names, rotation=60, ha="right", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.set_title(f"Table 1: {ylabel}", fontsize=7)
        if key == "table1_loss":
            ax.set_yscale("log")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=3, fontsize=7)
    return fig


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
