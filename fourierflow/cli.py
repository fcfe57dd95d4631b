"""The `fourierflow` command line: `demo`, `compare`, `sweep`, `merge`, `train`, `reproduce`.

Every run writes into one output folder: figures, a JSON of the numbers and `metadata.json`
(package versions, arguments, seed, devices, git revision). The command line runs in float64.

Compiled programs are kept on disk between runs (`FOURIERFLOW_CACHE_DIR`, default
`~/.cache/fourierflow/jax`; `FOURIERFLOW_CACHE_DIR=off` turns this off), so a second run
does not compile again.

Exit codes: 0 success; 2 a usage error (a bad argument, an unusable output folder), reported in
one line before anything is computed or written; 1 any other error, with its traceback (a bug
or a failure of the computation is never disguised as a usage error); 130 interrupted.
"""

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Literal

from tyro.conf import Positional

_CONFIG_NAMES = Literal[
    "standard", "grokking", "quad_random", "quad_single_freq", "relu_single_freq"
]


class UsageError(Exception):
    """A bad command-line argument: reported in one line, exit code 2."""


@contextlib.contextmanager
def _checking_arguments():
    """The checks of a command's arguments: their `ValueError`/`TypeError` are usage errors.
    Errors raised later, while computing, keep their traceback."""
    try:
        yield
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None


def _output_folder(out: Path) -> Path:
    """`out`, created and checked writable (a usage error otherwise)."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".fourierflow-probe-"):
            pass
    except OSError as error:
        raise UsageError(f"`out`: cannot write to {out}: {error.strerror or error}") from None
    return out


def _unwritten(out: Path) -> None:
    """Usage check of an output folder without creating it: its nearest existing parent must
    be a writable folder."""
    parent = Path(out).resolve()
    while not parent.exists():
        parent = parent.parent
    if not (parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)):
        raise UsageError(f"`out`: cannot create or write {out} ({parent} is not writable).")


# What a command holds until it ends (its output folder's lock).
_HELD = contextlib.ExitStack()


def _start(command: str, out: Path, **arguments) -> Path:
    """Create the output folder, hold it for this run, and record the run's metadata."""
    from . import _io

    out = _output_folder(out)
    try:
        _HELD.enter_context(_io.lock_folder(out))
    except RuntimeError as error:
        raise UsageError(f"`out`: {error}") from None
    _io.write_json(out / "metadata.json", _io.run_metadata(command=command, out=out, **arguments))
    return out


_FORMATS = Literal["png", "pdf", "svg"]


def _savefig(fig, path: Path, formats) -> None:
    from .plots import save_figure

    save_figure(fig, path, tuple(formats), dpi=200)


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def _check_flow_size(p: int, width: int) -> None:
    """Refuse an exact flow that cannot fit in memory: its loss builds the logits of the
    `p^2 / 2` folded pairs, `p` numbers each, and the activations, `width` each (float64,
    with their gradients: about 4 copies)."""
    pairs = p * (p + 1) // 2
    need = 4 * 8 * pairs * (p + width)
    have = _memory_bytes()
    if need > 0.8 * have:
        raise UsageError(
            f"`p`={p}, `width`={width}: the exact flow needs about {need / 2**30:.1f} GiB of "
            f"memory and this machine has {have / 2**30:.1f} GiB; choose a smaller p."
        )


def demo(out: Path = Path("out/demo"), seed: int = 0) -> None:
    """Run the demo: exact vs main vs reduced, a lottery check, the alignment-time scaling
    collapse; figures, summary.json and report.md under OUT.

    Args:
        out: output folder.
        seed: PRNG seed.
    """
    _unwritten(out)
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
    delta: float = 0.01,
    c_end_over_kappa: float = 10.0,
    t_end: float | None = None,
    n_times: int = 300,
    seed: int = 0,
    formats: tuple[_FORMATS, ...] = ("png",),
) -> None:
    """Exact gradient flow vs main flow vs per-frequency ODE from one initialization: the
    trajectories, their gaps and the event times of the initial stage.

    Args:
        out: output folder.
        p: modulus (odd, >= 3).
        width: number of neurons.
        kappa: initial magnitude, in (0, 1] (the theory's small-weight regime).
        init: the initialization.
        reduction: loss reduction.
        delta: alignment tolerance in (0, 1): record when every neuron has |sin D| <= delta.
        c_end_over_kappa: the end of the initial stage, max |weight| = this * kappa (> 1).
        t_end: the last saved time (default: 3 x the earliest blow-up time of the reduced ODE;
            the solves stop earlier on their events).
        n_times: number of saved times (>= 2).
        seed: PRNG seed.
        formats: figure formats (png, pdf, svg).
    """
    import jax.random as jr

    from ._checks import check_in_open_interval, check_positive_int
    from ._closed_form import blowup_time
    from ._init import init_multi_frequency, init_single_frequency

    with _checking_arguments():
        if not 0 < kappa <= 1:
            raise ValueError(f"`kappa` must lie in (0, 1]; got kappa={kappa!r}.")
        check_in_open_interval(delta, "delta", 0.0, 1.0)
        if not c_end_over_kappa > 1:
            raise ValueError(f"`c_end_over_kappa` must be > 1; got {c_end_over_kappa!r}.")
        if check_positive_int(n_times, "n_times") < 2:
            raise ValueError(f"`n_times` must be >= 2; got n_times={n_times}.")
        if t_end is not None and not (0 < t_end < float("inf")):
            raise ValueError(f"`t_end` must be finite and > 0; got t_end={t_end!r}.")
        make = init_single_frequency if init == "single_frequency" else init_multi_frequency
        net0 = make(jr.key(seed), p, width, kappa)  # checks p, width, kappa
        _check_flow_size(p, width)
        _unwritten(out)
    import jax.numpy as jnp
    import numpy as np

    from . import _io
    from ._compare import compare as run_compare

    arguments = dict(p=p, width=width, kappa=kappa, init=init, reduction=reduction)
    arguments |= dict(delta=delta, c_end_over_kappa=c_end_over_kappa, t_end=t_end)
    out = _start("compare", out, n_times=n_times, seed=seed, **arguments)
    if t_end is None:  # the fastest neuron's blow-up bounds every solve
        t_end = 3 * float(np.min(blowup_time(kappa, kappa, np.pi / 2, p, reduction=reduction)))
    ts = jnp.linspace(0.0, t_end, n_times)
    cmp = run_compare(
        net0, ts, reduction=reduction, delta=delta, c_end=c_end_over_kappa * kappa, progress=True
    )
    from ._outcome import outcome_names
    from .plots.flows import plot_flow_comparison

    _savefig(plot_flow_comparison(cmp, neuron=0), out / "comparison_neuron0", formats)
    rate = p if reduction == "sum" else 1 / p
    rows = {}
    for method in ("exact", "main", "reduced"):
        rows[method] = dict(
            t_aligned=float(cmp.t_aligned[method]),
            t_end=float(cmp.t_end[method]),
            t_stop=float(cmp.t_stop[method]),
            tau_stop=float(rate * kappa * cmp.t_stop[method]),
            outcome=sorted(set(np.atleast_1d(outcome_names(cmp.result[method])).tolist())),
        )
    errors = {
        f"{a}_vs_reduced": {k: float(v) for k, v in cmp.error(a, "reduced").items()}
        for a in ("exact", "main")
    }
    leak = float(jnp.max(jnp.where(cmp.valid[:, None], cmp.leak_exact, 0)) / kappa)
    _io.write_json(
        out / "results.json", dict(methods=rows, errors=errors, max_leak_exact_over_kappa=leak)
    )
    print(f"compare: p={p}, width={width}, kappa={kappa}, delta={delta}, c_end={c_end_over_kappa}k")
    print(f"{'method':8s} {'t_aligned':>11s} {'t_end':>11s} {'t_stop':>11s}  outcome")
    for method, r in rows.items():
        print(
            f"{method:8s} {r['t_aligned']:11.5g} {r['t_end']:11.5g} {r['t_stop']:11.5g}  "
            f"{', '.join(r['outcome'])}"
        )
    for name, e in errors.items():
        print(
            f"max rel. error {name}: alpha {e['alpha']:.2e}, beta {e['beta']:.2e}, D {e['D']:.2e}"
        )
    print(f"max off-frequency leak of the exact flow / kappa: {leak:.2e}; see {out}")


def _join(coordinator, num_processes, process_id, cluster) -> None:
    """Join a job over many processes when asked to (before any computation)."""
    if coordinator is not None or cluster:
        from . import distributed

        distributed.initialize(coordinator, num_processes, process_id)
    elif num_processes is not None or process_id is not None:
        raise ValueError("`num_processes`, `process_id` need --coordinator (or --cluster).")


def sweep(
    kind: Literal["alignment", "lottery", "ensemble"] = "alignment",
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
    resume: bool = False,
    width: int = 64,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    cluster: bool = False,
) -> None:
    """Sweep random initial states: alignment times (Thm 5.3), the frequency lottery
    (Lemma C.3), or an ensemble of exact gradient flows.

    Results stream to OUT chunk by chunk (a killed sweep continues with --resume) and end in
    OUT/sweep.npz; with --shard i/N in OUT/shard-i-of-N/sweep.npz (combine the shards with
    `fourierflow merge`). As one job over many processes: start it on every process with
    --coordinator HOST:PORT --num-processes N --process-id I (or --cluster on SLURM, TPU pod
    slices or Open MPI); process 0 writes OUT.

    Args:
        kind: "alignment": t_delta of single-frequency trajectories, D0 uniform, kappa
            log-uniform; "lottery": multi-frequency neurons' per-frequency ODEs, winner =
            argmin_k B_k(0); "ensemble": exact flows of N networks initialized
            multi-frequency at kappa = KAPPA_MAX (seeds SEED...), each to its end of the
            initial stage (max |weight| = 10 kappa), saving per-frequency magnitudes and phases.
        out: output folder.
        n: number of trajectories (alignment), neurons (lottery) or networks (ensemble).
        p: modulus (odd, >= 3).
        delta: alignment tolerance in (0, 1).
        kappa_min: smallest initial magnitude.
        kappa_max: largest initial magnitude (the ensemble's kappa).
        method: "ode" (event-terminated Diffrax solve) or "closed_form" (elliptic integrals).
        chunk_size: elements per chunk (bounds memory; default: the platform's, e.g. 4096 on
            CPU and 262144 on GPU/TPU for alignment ODE sweeps).
        shard: "i/N" to run only shard i of N (multi-process / multi-host runs).
        seed: PRNG seed (every shard must use the same one).
        resume: continue the sweep in OUT from its finished chunks.
        width: the ensemble's number of neurons.
        coordinator: HOST:PORT of process 0, for a job over many processes.
        num_processes: the job's number of processes (with --coordinator).
        process_id: this process's rank, 0..N-1 (with --coordinator).
        cluster: join a job whose processes JAX detects (SLURM, TPU pod slice, Open MPI).
    """
    from ._checks import check_in_open_interval, check_modulus, check_positive_int
    from ._sweep import parse_shard

    with _checking_arguments():
        _join(coordinator, num_processes, process_id, cluster)
        check_modulus(p)
        check_positive_int(n, "n")
        check_in_open_interval(delta, "delta", 0.0, 1.0)
        if not 0 < kappa_min <= kappa_max < float("inf"):
            raise ValueError(
                f"`kappa_min`, `kappa_max` need 0 < kappa_min <= kappa_max < inf; got "
                f"{kappa_min!r}, {kappa_max!r}."
            )
        if chunk_size is not None:
            check_positive_int(chunk_size, "chunk_size")
        check_positive_int(width, "width")
        shard_ij = parse_shard(shard)
        if shard_ij is not None:
            out = Path(out) / f"shard-{shard_ij[0]}-of-{shard_ij[1]}"
        _unwritten(out)
        if not resume and (Path(out) / "sweep.json").exists():
            raise ValueError(
                f"`out`: {out} already holds a sweep; pass --resume to continue it, or choose "
                "another folder."
            )
    import jax

    start = _start if jax.process_index() == 0 else (lambda command, out, **kw: Path(out))
    out = start(
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
        **(dict(width=width) if kind == "ensemble" else {}),
    )
    import numpy as np

    rng = np.random.default_rng(seed)
    if kind == "alignment":
        from ._reduced_sweeps import sweep_alignment

        D0 = rng.uniform(-np.pi, np.pi, n)
        kappa = np.exp(rng.uniform(np.log(kappa_min), np.log(kappa_max), n))
        result = sweep_alignment(
            D0, kappa, p, delta, method=method, chunk_size=chunk_size, shard=shard_ij, seed=seed,
            out=out, resume=resume,
        )  # fmt: skip
    elif kind == "ensemble":
        import jax.random as jr

        from ._ensemble import solve_ensemble
        from ._events import MagnitudeAbove
        from ._init import init_multi_frequency

        keys = jr.split(jr.key(seed), n)
        result = solve_ensemble(
            init=lambda x: init_multi_frequency(x["key"], p, width, kappa_max),
            inputs=dict(key=keys), event=MagnitudeAbove(10 * kappa_max), chunk_size=chunk_size,
            shard=shard_ij, out=str(out), resume=resume,
        )  # fmt: skip
    else:
        from ._closed_form import blowup_time
        from ._reduced_sweeps import sweep_lottery

        K = (p - 1) // 2
        D0 = rng.uniform(0, 2 * np.pi, (n, K))
        t_star = float(blowup_time(kappa_max, kappa_max, 0.0, p))
        ts = np.linspace(0, 0.9 * t_star, 20)
        result = sweep_lottery(
            D0, p, ts, kappa=kappa_max, chunk_size=chunk_size, shard=shard_ij, seed=seed,
            out=out, resume=resume,
        )  # fmt: skip
    if jax.process_index() == 0:
        print(
            f"sweep: {result.n} elements, outcomes {result.describe()}; wrote {out / 'sweep.npz'}"
        )


def merge(
    files: Positional[list[Path]],
    out: Path = Path("out/sweep/sweep.npz"),
    allow_partial: bool = False,
) -> None:
    """Merge the shards of one sweep (written with --shard i/N) into one .npz; shards of
    different sweeps, repeated or missing shards are refused.

    Args:
        files: the shard files (OUT/shard-i-of-N/sweep.npz).
        out: the merged file.
        allow_partial: merge although some shards are missing; the result is marked partial.
    """
    from ._sweep_result import SweepResult

    with _checking_arguments():
        missing = [str(f) for f in files if not Path(f).is_file()]
        if missing:
            raise ValueError(f"`files` not found: {missing}")
        shards = [SweepResult.load(f) for f in files]
        _unwritten(Path(out).parent)
        merged = SweepResult.merge(shards, allow_partial=allow_partial)
    note = (
        f" (partial: shards {merged.metadata['missing_shards']} missing)" if merged.partial else ""
    )
    print(f"merged {len(files)} shards, {merged.n} elements{note}: wrote {merged.save(out)}")


def train(
    config: Positional[_CONFIG_NAMES],
    out: Path | None = None,
    seed: int = 0,
    seeds: int | None = None,
    p: int | None = None,
    width: int | None = None,
    activation: str | None = None,
    optimizer: Literal["adamw", "sgd"] | None = None,
    lr: tuple[float, ...] | None = None,
    wd: tuple[float, ...] | None = None,
    frac_train: tuple[float, ...] | None = None,
    init_scale: tuple[float, ...] | None = None,
    steps: int | None = None,
    log_every: int | None = None,
    checkpoint_every: int = 5000,
    resume: bool = False,
    formats: tuple[_FORMATS, ...] = ("png",),
) -> None:
    """Train a named configuration of the paper's code, with checkpoints; any field can be
    overridden (e.g. --p 97 --lr 1e-3). With --seeds N, or several values of --lr, --wd,
    --frac-train, --init-scale, train an ensemble: every combination of the values and the
    seeds, as one compiled program (e.g. --seeds 8 --lr 1e-4 3e-4: 16 members).

    Args:
        config: the named configuration.
        out: output folder (default out/train-CONFIG); checkpoints go to OUT/checkpoints.
        seed: PRNG seed (initialization and split); with --seeds, the first seed.
        seeds: train an ensemble of this many seeds, SEED ... SEED+SEEDS-1.
        p: modulus (odd, >= 3).
        width: number of neurons.
        activation: activation name (relu, quad, abs, quartic, softplus, exp, identity, cube).
        optimizer: adamw or sgd.
        lr: learning rate (several values: an ensemble over them).
        wd: weight decay, AdamW's, decoupled (several values: an ensemble over them).
        frac_train: training fraction in (0, 1], 1: full data (several: an ensemble).
        init_scale: Gaussian initialization scale (several values: an ensemble over them).
        steps: number of optimizer steps.
        log_every: steps between metric records (steps must be a multiple).
        checkpoint_every: steps between atomic checkpoints.
        resume: continue from the latest intact checkpoint in OUT/checkpoints.
        formats: figure formats (png, pdf, svg).
    """
    from ._checks import check_positive_int

    grid = dict(lr=lr, weight_decay=wd, train_fraction=frac_train, init_scale=init_scale)
    fields = dict(p=p, width=width, activation=activation, optimizer=optimizer, steps=steps)
    fields["log_every"] = log_every
    out = out or Path(f"out/train-{config}")
    with _checking_arguments():
        from ._activations import get_activation
        from ._configs import ensemble_members, get_config

        for name, values in grid.items():
            if values is not None and not values:
                raise ValueError(f"`{name}` needs at least one value.")
        ensemble = seeds is not None or any(v is not None and len(v) > 1 for v in grid.values())
        if seeds is not None:
            check_positive_int(seeds, "seeds")
        if not ensemble:  # one value each: a single run, overridden as before
            fields |= {k: v[0] for k, v in grid.items() if v is not None}
        overrides = {k: v for k, v in fields.items() if v is not None}
        cfg = get_config(config, **overrides)
        get_activation(cfg.activation)
        check_positive_int(checkpoint_every, "checkpoint_every")
        if checkpoint_every % cfg.log_every:
            raise ValueError(
                f"`checkpoint_every` must be a multiple of `log_every` ({cfg.log_every}); got "
                f"{checkpoint_every}."
            )
        if ensemble:
            axes = {k: list(v) for k, v in grid.items() if v is not None}
            seed_list = list(range(seed, seed + (seeds or 1)))
            members = ensemble_members(cfg, seed_list, **axes)  # checks every member's config
        _unwritten(out)
    if ensemble:
        _train_ensemble(config, cfg, out, members, seed_list, axes, overrides,
                        checkpoint_every, resume, formats)  # fmt: skip
        return
    out = _start(
        "train", out, config=config, seed=seed, overrides=overrides, resume=resume,
        checkpoint_every=checkpoint_every,
    )  # fmt: skip
    from . import _io
    from ._configs import run_config
    from ._train import grokking_stages
    from .plots.training import plot_history

    result = run_config(
        cfg,
        seed,
        checkpoint_dir=str(out / "checkpoints"),
        checkpoint_every=checkpoint_every,
        resume=resume,
    )
    stages = grokking_stages(result.history)
    _savefig(
        plot_history(
            result.history, stages if None not in stages else None, title=f"{config} (seed {seed})"
        ),
        out / "history",
        formats,
    )
    numbers = dict(
        config=cfg.__dict__,
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


_GRID_FIELDS = ("lr", "weight_decay", "train_fraction", "init_scale")


def _train_ensemble(
    config, cfg, out, members, seed_list, axes, overrides, checkpoint_every, resume, formats
) -> None:
    """`train` for an ensemble: every member of `members` in one compiled program; per-member
    histories, outcomes and stages in results.json, the ensemble's history in one figure."""
    import numpy as np

    out = _start(
        "train", out, config=config, seeds=seed_list, grid=axes, overrides=overrides,
        resume=resume, checkpoint_every=checkpoint_every,
    )  # fmt: skip
    from . import _io
    from ._configs import run_ensemble
    from ._outcome import outcome_names
    from ._train import grokking_stages
    from .plots.training import plot_ensemble_history

    result = run_ensemble(
        cfg,
        seed_list,
        checkpoint_dir=str(out / "checkpoints"),
        checkpoint_every=checkpoint_every,
        resume=resume,
        throw=False,
        **axes,
    )
    names = outcome_names(result.result).tolist()
    rows = []
    for i, (member_cfg, member_seed) in enumerate(members):
        run = result.member(i)
        rows.append(
            dict(
                member=i,
                seed=member_seed,
                **{k: getattr(member_cfg, k) for k in _GRID_FIELDS},
                outcome=names[i],
                steps=run.step,
                stages=grokking_stages(run.history),
                history=run.history.as_dict(),
            )
        )
    title = f"{config}: {len(members)} members ({len(seed_list)} seeds"
    title += "".join(f", {len(v)} {k}" for k, v in axes.items() if len(v) > 1) + ")"
    _savefig(plot_ensemble_history(result.history, title=title), out / "history", formats)
    numbers = dict(
        config=cfg.__dict__,
        seeds=seed_list,
        grid=axes,
        members=rows,
        compile_time_s=result.compile_time,
        run_time_s=result.run_time,
    )
    _io.write_json(out / "results.json", numbers)
    full = cfg.train_fraction >= 1 and all(f >= 1 for f in axes.get("train_fraction", [1]))
    key = "train_accuracy" if full else "test_accuracy"
    final = np.asarray([r["history"][key][-1] for r in rows], float)
    print(
        f"train {config}: {len(members)} members, {cfg.steps} steps in {result.run_time:.1f} s; "
        f"final {key.replace('_', ' ')} mean {np.nanmean(final):.3f} (min {np.nanmin(final):.3f},"
        f" max {np.nanmax(final):.3f}); outcomes "
        f"{ {n: names.count(n) for n in sorted(set(names))} }; see {out}"
    )


def reproduce(
    name: Positional[str] = "",
    list: bool = False,
    out: Path | None = None,
    formats: tuple[_FORMATS, ...] = ("png",),
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    cluster: bool = False,
) -> None:
    """Regenerate a paper figure or table by name (see --list). As one job over many
    processes (the experiment's sweeps and ensembles spread over every process's devices):
    start it on every process with --coordinator HOST:PORT --num-processes N --process-id I (or
    --cluster); process 0 writes OUT.

    Args:
        name: the experiment's name.
        list: list the experiments with the figure or table each reproduces.
        out: output folder (default: out/NAME).
        formats: figure formats (png, pdf, svg).
        coordinator: HOST:PORT of process 0, for a job over many processes.
        num_processes: the job's number of processes (with --coordinator).
        process_id: this process's rank, 0..N-1 (with --coordinator).
        cluster: join a job whose processes JAX detects (SLURM, TPU pod slice, Open MPI).
    """
    from .experiments import list_experiments, run_experiment

    experiments = list_experiments()
    if list or not name:
        for stem, doc in experiments.items():
            print(f"{stem:24s} {doc}")
        return
    with _checking_arguments():
        if name not in experiments:
            raise ValueError(
                f"unknown experiment {name!r}; choose one of: {', '.join(experiments)}"
            )
        out = out or Path("out") / name
        _unwritten(out)
        _join(coordinator, num_processes, process_id, cluster)
    import jax

    if jax.process_index() == 0:
        out = _start("reproduce", out, name=name, formats=formats)
        run_experiment(name, out, formats=tuple(formats))
        print(f"reproduce {name}: see {out}")
        return
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:  # every process computes, process 0 writes
        run_experiment(name, Path(scratch) / name, formats=tuple(formats))


def explore(
    host: str = "127.0.0.1",
    port: int = 7860,
    workdir: Path | None = None,
    run: Path | None = None,
    warmup: bool = True,
    open_browser: bool = False,
) -> None:
    """Start the explorer, a local web app: the dynamics (exact flow, main flow, per-frequency
    ODE) for any p, the lottery, sweeps and trained runs, with interactive charts and exports.
    Needs the app extra: pip install 'fourierflow[app]'.

    Args:
        host: address to bind (127.0.0.1: this machine only; another address is warned about).
        port: TCP port.
        workdir: folder for exports and runs trained in the app (default: a temporary folder).
        run: a checkpoint folder to open in the "Trained run" view.
        warmup: compile the default views in the background at start.
        open_browser: open the page in the default browser.
    """
    with _checking_arguments():
        if not 1 <= port <= 65535:
            raise ValueError(f"`port` must lie in 1..65535; got port={port}.")
        if run is not None and not Path(run).is_dir():
            raise ValueError(f"`run`: no such folder: {run}")
        if workdir is not None:
            _output_folder(workdir)
        try:
            from .app import launch, port_free
        except ImportError as error:
            raise ValueError(str(error)) from None
        try:
            import gradio  # noqa: F401
        except ImportError:
            raise ValueError(
                "the explorer needs the app extra: pip install 'fourierflow[app]'"
            ) from None
        if not port_free(host, port):
            raise ValueError(
                f"`port`: cannot bind {host}:{port} (in use, or not an address of this "
                "machine); choose another with --port."
            )
    launch(
        host,
        port,
        workdir=workdir,
        run_folder=None if run is None else str(run),
        warmup=warmup,
        open_browser=open_browser,
    )


COMMANDS = {
    "demo": demo,
    "compare": compare,
    "sweep": sweep,
    "merge": merge,
    "train": train,
    "reproduce": reproduce,
    "explore": explore,
}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `fourierflow` console script.

    **Arguments:**

    - `argv`: the arguments (default `sys.argv[1:]`).

    **Returns:**

    Nothing; exits with status 2 on a usage error.
    """
    import jax
    import tyro

    # Before anything is built: an initialization drawn in float32 would differ.
    jax.config.update("jax_enable_x64", True)
    from ._cache import enable_compilation_cache

    enable_compilation_cache()  # FOURIERFLOW_CACHE_DIR=off turns it off
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("--version", "-V"):
        from . import __version__

        print(f"fourierflow {__version__}")
        return
    try:
        with _HELD:
            tyro.extras.subcommand_cli_from_dict(
                COMMANDS,
                prog="fourierflow",
                description="Training dynamics of two-layer networks learning modular addition.",
                args=argv,
            )
    except UsageError as error:
        print(f"fourierflow: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("fourierflow: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
