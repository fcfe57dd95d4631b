"""The `fourierflow` command line (tyro): `demo`, `compare`, `sweep`, `merge`, `train`,
`reproduce`.

Every run writes into one output folder: PNG figures, a JSON of the numbers and
`metadata.json` (package versions, arguments, seed, devices, git revision). Arguments are
checked before anything compiles. The command line always runs in float64.
"""

import sys
from pathlib import Path
from typing import Literal

from tyro.conf import Positional

from ._experiments import list_experiments, run_experiment


def _start(command: str, out: Path, **arguments) -> Path:
    import jax

    from . import _io

    jax.config.update("jax_enable_x64", True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _io.write_json(out / "metadata.json", _io.run_metadata(command=command, out=out, **arguments))
    return out


def _savefig(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=120)
    plt.close(fig)


def demo(out: Path = Path("out/demo"), seed: int = 0) -> None:
    """Run the demo: exact vs main vs reduced, a lottery check, the alignment-time scaling
    collapse; figures, summary.json and report.md under OUT.

    Args:
        out: output folder.
        seed: PRNG seed.
    """
    from ._demo import run_demo

    summary = run_demo(out, seed)
    print(f"demo done in {summary['wall_time_s']:.1f} s: see {out}/report.md")


def compare(
    out: Path = Path("out/compare"),
    p: int = 23,
    width: int = 4,
    kappa: float = 0.02,
    init: Literal["single_frequency", "multi_frequency"] = "single_frequency",
    reduction: Literal["sum", "mean"] = "sum",
    c_end_over_kappa: float = 10.0,
    n_times: int = 300,
    seed: int = 0,
) -> None:
    """Exact gradient flow vs main flow vs per-frequency ODE from one initialization.

    Args:
        out: output folder.
        p: modulus (odd, >= 3).
        width: number of neurons.
        kappa: initial magnitude.
        init: the initialization.
        reduction: loss reduction.
        c_end_over_kappa: stop at the end of the initial stage, max |weight| = this * kappa.
        n_times: number of saved times.
        seed: PRNG seed.
    """
    import jax.numpy as jnp
    import jax.random as jr

    from . import _io
    from .flows import compare as run_compare
    from ._init import init_multi_frequency, init_single_frequency
    from .reduced import blowup_time

    make = init_single_frequency if init == "single_frequency" else init_multi_frequency
    net0 = make(jr.key(seed), p, width, kappa)  # checks p, width, kappa before compiling
    if not c_end_over_kappa > 1:
        raise ValueError(f"`c_end_over_kappa` must be > 1; got {c_end_over_kappa!r}.")
    out = _start(
        "compare",
        out,
        p=p,
        width=width,
        kappa=kappa,
        init=init,
        reduction=reduction,
        c_end_over_kappa=c_end_over_kappa,
        n_times=n_times,
        seed=seed,
    )
    rate = p if reduction == "sum" else 1 / p
    # the blow-up of the fastest neuron bounds every solve; events stop each one earlier
    t_star = float(jnp.min(blowup_time(kappa, kappa, jnp.pi / 2, p, reduction=reduction)))
    ts = jnp.linspace(0.0, 3 * t_star, n_times)
    cmp = run_compare(net0, ts, reduction=reduction, c_end=c_end_over_kappa * kappa)
    from .plots.flows import plot_flow_comparison

    _savefig(plot_flow_comparison(cmp, neuron=0), out / "comparison_neuron0.png")
    numbers = dict(
        t_stop_exact=cmp.t_stop_exact,
        t_stop_main=cmp.t_stop_main,
        scaled_t_stop=rate * kappa * cmp.t_stop,
        exact_vs_reduced=cmp.error("exact", "reduced"),
        main_vs_reduced=cmp.error("main", "reduced"),
        max_leak_exact_over_kappa=jnp.max(jnp.where(cmp.valid[:, None], cmp.leak_exact, 0)) / kappa,
    )
    _io.write_json(out / "results.json", numbers)
    print(f"compare: exact vs reduced {numbers['exact_vs_reduced']}; see {out}")


def sweep(
    kind: Literal["alignment", "lottery"] = "alignment",
    out: Path = Path("out/sweep"),
    n: int = 10_000,
    p: int = 23,
    delta: float = 0.01,
    kappa_min: float = 1e-4,
    kappa_max: float = 1e-1,
    method: Literal["ode", "closed_form"] = "ode",
    chunk_size: int | None = None,
    shard: str | None = None,
    seed: int = 0,
) -> None:
    """Sweep random initial states: alignment times (Thm 5.3) or the frequency lottery (Lemma C.3).

    Writes OUT/sweep.npz (or OUT/sweep-shard-i-of-N.npz with --shard i/N; combine the shards with
    `fourierflow merge`).

    Args:
        kind: "alignment": t_delta of single-frequency trajectories, D0 uniform, kappa log-uniform;
            "lottery": multi-frequency neurons' reduced ODEs, winner = argmin_k B_k(0).
        out: output folder.
        n: number of trajectories (alignment) or neurons (lottery).
        p: modulus (odd, >= 3).
        delta: alignment tolerance in (0, 1).
        kappa_min: smallest initial magnitude.
        kappa_max: largest initial magnitude.
        method: "ode" (event-terminated Diffrax solve) or "closed_form" (elliptic integrals).
        chunk_size: elements per chunk (bounds memory; default: the platform's, e.g. 4096 on
            CPU and 262144 on GPU/TPU for alignment ODE sweeps).
        shard: "i/N" to run only shard i of N (multi-process / multi-host runs).
        seed: PRNG seed (every shard must use the same one).
    """
    import numpy as np

    from ._checks import check_modulus, check_positive_int
    from .sweeps import parse_shard

    check_modulus(p)
    check_positive_int(n, "n")
    if not 0 < delta < 1:
        raise ValueError(f"`delta` must lie in (0, 1); got delta={delta!r}.")
    if not 0 < kappa_min <= kappa_max:
        raise ValueError(f"need 0 < kappa_min <= kappa_max; got {kappa_min!r}, {kappa_max!r}.")
    shard_ij = parse_shard(shard)
    out = _start(
        "sweep",
        out,
        kind=kind,
        n=n,
        p=p,
        delta=delta,
        kappa_min=kappa_min,
        kappa_max=kappa_max,
        method=method,
        chunk_size=chunk_size,
        shard=shard,
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    if kind == "alignment":
        from .sweeps import sweep_alignment

        D0 = rng.uniform(-np.pi, np.pi, n)
        kappa = np.exp(rng.uniform(np.log(kappa_min), np.log(kappa_max), n))
        result = sweep_alignment(
            D0, kappa, p, delta, method=method, chunk_size=chunk_size, shard=shard_ij, seed=seed
        )
    else:
        from .reduced import blowup_time
        from .sweeps import sweep_lottery

        K = (p - 1) // 2
        D0 = rng.uniform(0, 2 * np.pi, (n, K))
        t_star = float(blowup_time(kappa_max, kappa_max, 0.0, p))
        ts = np.linspace(0, 0.9 * t_star, 20)
        result = sweep_lottery(
            D0, p, ts, kappa=kappa_max, chunk_size=chunk_size, shard=shard_ij, seed=seed
        )
    name = "sweep.npz" if shard_ij is None else f"sweep-shard-{shard_ij[0]}-of-{shard_ij[1]}.npz"
    path = result.save(out / name)
    print(f"sweep: {result.n} elements, status {result.describe()}; wrote {path}")


def merge(files: Positional[list[Path]], out: Path = Path("out/sweep/sweep.npz")) -> None:
    """Merge the shards of one sweep (written with --shard i/N) into one .npz.

    Args:
        files: the shard files.
        out: the merged file.
    """
    from .sweeps import SweepResult

    missing = [str(f) for f in files if not Path(f).exists()]
    if missing:
        raise ValueError(f"`files` not found: {missing}")
    merged = SweepResult.merge([SweepResult.load(f) for f in files])
    print(f"merged {len(files)} shards, {merged.n} elements: wrote {merged.save(out)}")


def train(
    config: Positional[
        Literal["standard", "grokking", "quad_random", "quad_single_freq", "relu_single_freq"]
    ],
    out: Path | None = None,
    seed: int = 0,
    steps: int | None = None,
    checkpoint_every: int = 5000,
    resume: bool = False,
) -> None:
    """Train a named configuration of the reference code, with checkpoints.

    Args:
        config: the named configuration.
        out: output folder (default out/train-CONFIG); checkpoints go to OUT/checkpoints.
        seed: PRNG seed.
        steps: override the configuration's number of steps.
        checkpoint_every: steps between atomic checkpoints.
        resume: continue from the latest checkpoint in OUT/checkpoints (bit-identical).
    """
    from . import _io
    from ._checks import check_positive_int
    from ._configs import get_config, run_config
    from ._train import grokking_stages

    overrides = {} if steps is None else {"steps": check_positive_int(steps, "steps")}
    cfg = get_config(config, **overrides)
    check_positive_int(checkpoint_every, "checkpoint_every")
    out = _start(
        "train",
        out or Path(f"out/train-{config}"),
        config=config,
        seed=seed,
        steps=cfg.steps,
        checkpoint_every=checkpoint_every,
        resume=resume,
    )
    result = run_config(
        cfg,
        seed,
        checkpoint_dir=str(out / "checkpoints"),
        checkpoint_every=checkpoint_every,
        resume=resume,
    )
    from .plots.training import plot_history

    stages = grokking_stages(result.history)
    _savefig(
        plot_history(
            result.history, stages if None not in stages else None, title=f"{config} (seed {seed})"
        ),
        out / "history.png",
    )
    numbers = dict(
        history=result.history.as_dict(),
        stages=stages,
        steps=result.step,
        compile_time_s=result.compile_time,
        run_time_s=result.run_time,
    )
    _io.write_json(out / "results.json", numbers)
    h = result.history
    full = cfg.train_fraction >= 1
    acc = float(h.train_accuracy[-1] if full else h.test_accuracy[-1])
    print(
        f"train {config}: {result.step} steps in {result.run_time:.1f} s; final train loss "
        f"{float(h.train_loss[-1]):.3g}, {'train' if full else 'test'} accuracy {acc:.3f}; "
        f"see {out}"
    )


def reproduce(name: Positional[str] = "", list: bool = False, out: Path | None = None) -> None:
    """Regenerate a paper figure or table by name (see --list).

    Args:
        name: the experiment's name (a script of experiments/).
        list: list the experiments with the figure or table each reproduces.
        out: output folder (default: out/NAME).
    """
    exps = list_experiments()
    if list or not name:
        for stem, doc in exps.items():
            print(f"{stem:24s} {doc}")
        return
    if name not in exps:
        raise SystemExit(f"unknown experiment {name!r}; choose one of: {', '.join(exps)}")
    out = _start("reproduce", out or Path("out") / name, name=name)
    run_experiment(name, out)
    print(f"reproduce {name}: see {out}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `fourierflow` console script."""
    import tyro

    commands = {
        "demo": demo,
        "compare": compare,
        "sweep": sweep,
        "merge": merge,
        "train": train,
        "reproduce": reproduce,
    }
    try:
        tyro.extras.subcommand_cli_from_dict(
            commands,
            prog="fourierflow",
            description="Training dynamics of two-layer networks learning modular addition.",
            args=sys.argv[1:] if argv is None else argv,
        )
    except (ValueError, TypeError) as error:  # bad arguments: one clear line, no traceback
        raise SystemExit(f"fourierflow: error: {error}") from None
