"""Benchmark against the paper's own code (github.com/Y-Agent/modular-addition-feature-learning).

The paper's files are extracted at run time from a checkout (`--paper-repo`, a git directory,
bare or not, or a plain folder) into a scratch folder outside this repository; none of their
code is part of fourierflow. Without a checkout the script says so and skips. Optional
imports of theirs that the timed code never calls (`wandb`, `einops`, `plotly`) are replaced
by empty modules when they are not installed (reported in the JSON). PyTorch is needed
(`pip install -e '.[bench]'`).

(a) Training step, float32, full batch, the `standard` run (ReLU, AdamW lr 5e-5, full data):
    the paper's `Trainer` (`src/nnTrainer.py`, its `EmbedMLP`) against `fourierflow.train`, at
    p = 23 (width 512, their p_23 runs) and p = 97 (width 1024, `src/configs.yaml` and their
    saved p_97 model). Two paper timings: *core* (forward `full_loss`, backward, AdamW step,
    scheduler step, zero_grad) and *as written* (`Trainer.do_a_training_step`, which also
    evaluates test loss and both accuracies and the norms every step, as their loop does).
    PyTorch is timed with 1 thread and with all cores; the better is the reference. fourierflow
    is `fourierflow.train` (compile time excluded; one metrics evaluation per timed block).
(b) The decoupled per-frequency dynamics: the notebook `decouple_dynamics_simulation.ipynb`'s
    own `gradient_update` / `simulate_gradient_flow` (explicit Euler on theta, xi in float64),
    driven from the notebook's initial states (p = 23, k = 2, amplitude 0.02) until alignment
    `|sin D| <= delta`, against `fourierflow.solve_alignment` (one trajectory per call, and a
    batch) and `fourierflow.solve_reduced` (a trajectory saved on the notebook's time grid,
    stopped by `Aligned(delta)`). The notebook's dynamics are the `"mean"` reduction (rate
    1/p). Accuracy of every path: relative error of `t_delta` against
    `fourierflow.alignment_time_exact`. Equal accuracy: the Euler error is fitted (first
    order) on the notebook's two steps (lr 1 and 0.1) and the step for fourierflow's accuracy
    extrapolated (labelled as such); and fourierflow loosened to the notebook's accuracy.

Every comparison alternates A and B blocks in one process (A B A B ..., the order reversed
every other round) and reports steps (or trajectories) per wall second and per CPU second
(all threads), medians over the rounds, the ratio of the medians and the range of the
per-round ratios, with the load average before and after. The machine may be shared: CPU
seconds are the steadier measure.

Run `python benchmarks/bench_reference.py [--key value ...]`; prints and writes
`benchmarks/results/<backend>_bench_reference.json`.
"""

import contextlib
import importlib
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import jax
import numpy as np

import fourierflow as ff
from fourierflow import write_json

DEFAULT_PAPER_REPO = "/work/.mirror/Y-Agent+modular-addition-feature-learning/repo"
PAPER_FILES = (
    "src/model_base.py",
    "src/nnTrainer.py",
    "src/utils.py",
    "src/mechanism_base.py",
    "src/configs.yaml",
    "notebooks/decouple_dynamics_simulation.ipynb",
)
# Imported at module level by the paper's files but never used by the code timed here.
OPTIONAL_IMPORTS = (
    "wandb",
    "einops",
    "plotly",
    "plotly.graph_objects",
    "plotly.express",
    "plotly.io",
)
PAPER_MODULES = ("utils", "model_base", "nnTrainer", "mechanism_base", "src", "src.mechanism_base")
# The notebook's three simulations (its cells 1, 6 and 9): p, frequency, steps, lr, phases.
NOTEBOOK_RUNS = (
    dict(cell=1, p=23, init_k=2, num_steps=7000, lr=0.1, phi=-0.72, psi=-2.91, amplitude=0.02),
    dict(cell=6, p=23, init_k=2, num_steps=700, lr=1.0, phi=-0.72, psi=-2.91, amplitude=0.02),
    dict(cell=9, p=23, init_k=2, num_steps=1400, lr=1.0, phi=1.5, psi=0.18, amplitude=0.02),
)


# ---------------------------------------------------------------------------------------------
# Timing


def cpu_model() -> str:
    """The CPU's model name (Linux), else `platform.processor()`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def timed(fn, *args):
    """`(wall_s, cpu_s, out)` of one call (CPU seconds of all threads of this process)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - w, time.process_time() - c, out


def interleave(blocks: dict, rounds: int) -> dict:
    """Run `blocks` (name -> callable returning `(units, wall_s, cpu_s)`) alternately, the
    order reversed every other round; per name the per-round rates (units per wall and per CPU
    second) with the load average at each round's start."""
    names = list(blocks)
    rows = {k: [] for k in names}
    for r in range(rounds):
        start = load()
        for k in names if r % 2 == 0 else names[::-1]:
            units, wall, cpu = blocks[k]()
            rows[k].append(dict(per_s=units / wall, per_cpu_s=units / cpu, load=start))
    return rows


def summary(rows: list[dict]) -> dict:
    wall = [r["per_s"] for r in rows]
    cpu = [r["per_cpu_s"] for r in rows]
    return dict(
        per_s_median=float(np.median(wall)),
        per_s_best=float(max(wall)),
        per_cpu_s_median=float(np.median(cpu)),
        per_cpu_s_best=float(max(cpu)),
        rounds=rows,
    )


def ratio(a_rows: list[dict], b_rows: list[dict]) -> dict:
    """`a / b`: of the medians, and the range of the per-round ratios (same round = close in
    time, so the least disturbed by a changing load)."""
    out = {}
    for key in ("per_s", "per_cpu_s"):
        a = np.array([r[key] for r in a_rows])
        b = np.array([r[key] for r in b_rows])
        per_round = a / b
        out[key] = dict(
            of_medians=float(np.median(a) / np.median(b)),
            per_round_min=float(per_round.min()),
            per_round_max=float(per_round.max()),
        )
    return out


# ---------------------------------------------------------------------------------------------
# The paper's code


def extract_paper_code(repo: str | None, scratch: str | None = None) -> dict | None:
    """Copy `PAPER_FILES` out of `repo` into a scratch folder (outside this repository).

    `repo` is a git directory (bare or with a work tree; `HEAD` is read) or a plain folder.
    Returns `dict(repo, commit, dest)`, or `None` after printing why (nothing found).
    """
    if not repo or not os.path.isdir(repo):
        print(f"paper code not found at {repo!r}: skipping the comparison with it.")
        return None
    dest = Path(scratch or tempfile.mkdtemp(prefix="paper_code_"))
    if Path(dest).resolve().is_relative_to(Path(__file__).resolve().parents[1]):
        raise ValueError(f"`scratch` must lie outside the repository; got {dest}.")
    git = ["git", "-C", repo]
    rev = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True)
    commit = rev.stdout.strip() if rev.returncode == 0 else None
    for name in PAPER_FILES:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shown = subprocess.run(git + ["show", f"HEAD:{name}"], capture_output=True)
        if commit and shown.returncode == 0:
            target.write_bytes(shown.stdout)
        elif os.path.isfile(os.path.join(repo, name)):
            shutil.copyfile(os.path.join(repo, name), target)
        else:
            print(f"paper code at {repo!r} has no {name}: skipping the comparison with it.")
            return None
    return dict(repo=repo, commit=commit, dest=str(dest))


def _stub_optional_imports() -> list[str]:
    stubbed = []
    for name in OPTIONAL_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
            stubbed.append(name)
    return stubbed


def import_paper(code: dict) -> dict:
    """Import the paper's `utils` and `nnTrainer` from the scratch copy (PyTorch needed)."""
    import torch  # noqa: F401  (fail here, with a clear message, when it is missing)

    stubbed = _stub_optional_imports()
    for name in PAPER_MODULES:  # their top-level names (`utils`) must be theirs
        sys.modules.pop(name, None)
    sys.path.insert(0, os.path.join(code["dest"], "src"))
    try:
        utils = importlib.import_module("utils")
        trainer = importlib.import_module("nnTrainer")
    finally:
        sys.path.pop(0)
    return dict(utils=utils, nnTrainer=trainer, stubbed=stubbed)


@contextlib.contextmanager
def _in_folder(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


# precompute/prime_config.py TRAINING_RUNS (the paper's runs) for our configurations' names.
PAPER_RUNS = dict(
    standard=dict(frac_train=1.0, lr=5e-5, weight_decay=0.0),
    grokking=dict(frac_train=0.75, lr=1e-4, weight_decay=2.0),
)


class PaperTrainer:
    """The paper's `Trainer` on one of `PAPER_RUNS` at `p`, `d_mlp` (float32, CPU)."""

    def __init__(self, code: dict, modules: dict, p: int, d_mlp: int, run: str = "standard"):
        import torch
        import yaml

        torch.set_default_dtype(torch.float32)
        with open(os.path.join(code["dest"], "src", "configs.yaml")) as f:
            cfg = yaml.safe_load(f)
        r = PAPER_RUNS[run]
        cfg["data"].update(p=p, frac_train=r["frac_train"], batch_style="full")
        cfg["model"].update(
            d_mlp=d_mlp, act_type="ReLU", embed_type="one_hot", init_type="random", init_scale=0.1
        )
        cfg["training"].update(
            lr=r["lr"],
            weight_decay=r["weight_decay"],
            optimizer="AdamW",
            save_models=False,
            seed=42,
        )
        utils, nn_trainer = modules["utils"], modules["nnTrainer"]
        with _in_folder(code["dest"]), contextlib.redirect_stdout(io.StringIO()):
            self.config = utils.Config(cfg)
            self.trainer = nn_trainer.Trainer(self.config, use_wandb=False)
        self.utils = utils
        self.epoch = 0

    def core_steps(self, steps: int) -> float:
        tr, utils = self.trainer, self.utils
        for _ in range(steps):
            loss = utils.full_loss(config=self.config, model=tr.model, data=tr.train)
            loss.backward()
            tr.optimizer.step()
            tr.scheduler.step()
            tr.optimizer.zero_grad()
        return float(loss.detach())

    def trainer_steps(self, steps: int) -> float:
        with contextlib.redirect_stdout(io.StringIO()):
            for _ in range(steps):
                loss, _ = self.trainer.do_a_training_step(self.epoch)
                self.epoch += 1
        return float(loss.detach())


def load_notebook_simulation(code: dict) -> dict:
    """The notebook's simulation functions: its first code cell, executed as the notebook does
    (from `notebooks/`, importing `src.mechanism_base`)."""
    path = os.path.join(code["dest"], "notebooks", "decouple_dynamics_simulation.ipynb")
    with open(path) as f:
        cells = [c for c in json.load(f)["cells"] if c["cell_type"] == "code"]
    source = next(
        "".join(c["source"]) for c in cells if "def simulate_gradient_flow" in "".join(c["source"])
    )
    os.environ.setdefault("MPLBACKEND", "Agg")
    _stub_optional_imports()
    for name in PAPER_MODULES:
        sys.modules.pop(name, None)
    namespace: dict = {"__name__": "decouple_dynamics_simulation"}
    with _in_folder(os.path.join(code["dest"], "notebooks")):
        exec(compile(source, f"{path}[simulation cell]", "exec"), namespace)  # noqa: S102
    return namespace


# ---------------------------------------------------------------------------------------------
# (a) Training step


def matmul_flops_paper(p: int, d_mlp: int, n_train: int, as_written: bool) -> float:
    """Matmul FLOPs of the paper's step on its `B = n_train` train pairs: forward (one-hot @
    W_in^T, act @ W_out^T) and backward (W_out's gradient, the activation's, W_in's) =
    `10 B p M`; as written also the test loss and both accuracies (`4 p M` per pair each: the
    train set once more, the test set twice; with full data the test set is the train set)."""
    n_test = p * p - n_train if n_train < p * p else p * p
    return 10.0 * n_train * p * d_mlp + 4.0 * (n_train + 2 * n_test) * p * d_mlp


def step_matmul_flops(width: int, split: ff.Split) -> float:
    """Matmul FLOPs of one `fourierflow.train` step: `u = theta S^T`, `f = xi^T h` forward,
    `g_h`, `g_xi`, `g_theta` backward: `5 * 2 M p n` with `n` the folded train pairs (the
    one-hot products count in full: they are dense matmuls)."""
    n = len(ff.symmetric_pairs(split)[0])
    return 10.0 * width * split.p * n


def bench_training(
    code: dict | None,
    modules: dict | None,
    p: int,
    width: int,
    rounds: int,
    ff_seconds: float,
    paper_seconds: float,
    run: str = "standard",
) -> dict:
    import torch

    config = ff.get_config(run, p=p, width=width)
    net0, split = ff.config_setup(config, 0)
    opt = config.make_optimizer()

    def ff_block(steps):
        res = ff.train(
            net0, opt, steps=steps, log_every=steps, split=split,
            reduction=config.reduction, progress=False,
        )  # fmt: skip
        return steps, res.run_time, res.run_cpu_time

    # Calibrate the block lengths (a block is one compiled chunk of `steps` steps).
    probe = ff_block(10 if p < 50 else 2)
    ff_steps = max(2, int(ff_seconds / (probe[1] / probe[0])))
    blocks = {"fourierflow": lambda: ff_block(ff_steps)}
    out = dict(
        run=run,
        p=p,
        width=width,
        fourierflow_block_steps=ff_steps,
        fourierflow_matmul_gflop=step_matmul_flops(width, split) / 1e9,
    )
    if code is not None:
        paper = PaperTrainer(code, modules, p, width, run)
        n_threads = os.cpu_count() or 1

        def paper_block(kind, threads, steps):
            torch.set_num_threads(threads)
            fn = paper.core_steps if kind == "core" else paper.trainer_steps
            wall, cpu, _ = timed(fn, steps)
            return steps, wall, cpu

        paper_block("core", 1, 1)  # warm up
        w = timed(paper.core_steps, 2)[0] / 2
        core_steps = max(1, int(paper_seconds / w))
        written_steps = max(1, core_steps // 2)
        for threads in sorted({1, n_threads}):
            blocks[f"paper_core_{threads}t"] = lambda t=threads: paper_block("core", t, core_steps)
            blocks[f"paper_trainer_{threads}t"] = lambda t=threads: paper_block(
                "trainer", t, written_steps
            )
        out.update(paper_core_block_steps=core_steps, paper_trainer_block_steps=written_steps)
    out["load_before"] = load()
    rows = interleave(blocks, rounds)
    out["load_after"] = load()
    out["runs"] = {k: summary(v) for k, v in rows.items()}
    if code is not None:
        for kind in ("core", "trainer"):
            best = max(
                (k for k in rows if k.startswith(f"paper_{kind}_")),
                key=lambda k: out["runs"][k]["per_cpu_s_median"],
            )
            out[f"paper_{kind}_reference"] = best
            out[f"ratio_vs_paper_{kind}"] = ratio(rows["fourierflow"], rows[best])
        b = len(paper.trainer.train[1])
        out["paper_train_pairs"] = b
        out["paper_matmul_gflop_core"] = matmul_flops_paper(p, width, b, False) / 1e9
        out["paper_matmul_gflop_as_written"] = matmul_flops_paper(p, width, b, True) / 1e9
    return out


def _print_training(r: dict) -> None:
    runs = r["runs"]
    line = (
        f"train {r['run']} p={r['p']} width={r['width']} "
        f"(load {r['load_before']} -> {r['load_after']}):"
    )
    print(line)
    for k, v in runs.items():
        print(
            f"  {k:20s} {v['per_s_median']:9.2f} steps/s wall (best {v['per_s_best']:.2f}), "
            f"{v['per_cpu_s_median']:9.2f} steps per CPU-s (best {v['per_cpu_s_best']:.2f})"
        )
    for kind in ("core", "trainer"):
        if f"ratio_vs_paper_{kind}" in r:
            q = r[f"ratio_vs_paper_{kind}"]
            print(
                f"  fourierflow / paper {kind} ({r[f'paper_{kind}_reference']}): "
                f"{q['per_s']['of_medians']:.1f}x wall (rounds {q['per_s']['per_round_min']:.1f}-"
                f"{q['per_s']['per_round_max']:.1f}), {q['per_cpu_s']['of_medians']:.1f}x per "
                f"CPU-s (rounds {q['per_cpu_s']['per_round_min']:.1f}-"
                f"{q['per_cpu_s']['per_round_max']:.1f})"
            )


# ---------------------------------------------------------------------------------------------
# (b) The decoupled per-frequency simulation


def _first_aligned(D: np.ndarray, delta: float) -> int | None:
    hit = np.flatnonzero((np.cos(D) > 0) & (np.abs(np.sin(D)) <= delta))
    return int(hit[0]) if hit.size else None


class NotebookSimulation:
    """The notebook's Euler simulation from one of its initial states, to alignment."""

    def __init__(self, namespace: dict, run: dict, delta: float):
        import torch

        self.ns, self.run, self.delta = namespace, run, delta
        self.torch = torch
        p, k, amp = run["p"], run["init_k"], run["amplitude"]
        self.D0 = 2 * run["phi"] - run["psi"]
        self.t_exact = float(ff.alignment_time_exact(amp, amp, self.D0, p, delta, reduction="mean"))
        # As in the notebook's cells (float64, CPU).
        torch.set_default_dtype(torch.float64)
        w_k = 2 * np.pi * k / p
        self.theta0 = amp * torch.tensor([np.cos(w_k * j + run["phi"]) for j in range(p)])
        self.xi0 = amp * torch.tensor([np.cos(w_k * j + run["psi"]) for j in range(p)])
        self.steps = int(math.ceil(1.05 * self.t_exact / run["lr"])) + 2

    def simulate(self, steps: int | None = None):
        return self.ns["simulate_gradient_flow"](
            self.theta0, self.xi0, self.run["p"], steps or self.steps, self.run["lr"],
            self.torch.device("cpu"),
        )  # fmt: skip

    def alignment_time(self, history) -> float:
        basis, _ = self.ns["get_fourier_basis"](self.run["p"], self.torch.device("cpu"))
        with contextlib.redirect_stdout(io.StringIO()):
            res = self.ns["analyze_history"](*history, self.run["p"], basis.to(self.torch.float64))
        i = _first_aligned(np.asarray(res["deltas"][self.run["init_k"]]), self.delta)
        return math.inf if i is None else i * self.run["lr"]


def bench_simulation(ns: dict | None, delta: float, rounds: int, batch: int) -> dict:
    import diffrax as dfx
    import torch

    out = dict(delta=delta, reduction="mean", runs=[])
    alignment = jax.jit(
        lambda a, b, D: ff.solve_alignment(a, b, D, 23, delta, reduction="mean").ts[..., 0]
    )
    for run in NOTEBOOK_RUNS:
        amp, p = run["amplitude"], run["p"]
        D0 = 2 * run["phi"] - run["psi"]
        t_exact = float(ff.alignment_time_exact(amp, amp, D0, p, delta, reduction="mean"))
        row = dict(notebook_cell=run["cell"], lr=run["lr"], D0=D0, t_exact=t_exact)
        blocks = {}

        def ff_single(D0=D0, amp=amp):
            n = 50
            w, c = time.perf_counter(), time.process_time()
            for _ in range(n):
                t = jax.block_until_ready(alignment(amp, amp, D0))
            return n, time.perf_counter() - w, time.process_time() - c, float(t)

        ts = np.arange(0, 1.5 * t_exact, run["lr"])

        def ff_reduced(D0=D0, amp=amp, ts=ts, p=p, run=run):
            n = 20
            w, c = time.perf_counter(), time.process_time()
            for _ in range(n):
                sol = ff.solve_reduced(
                    amp, amp, D0, p, ts, reduction="mean", event=ff.Aligned(delta),
                    phases=(run["phi"], run["psi"]),
                )  # fmt: skip
                t = float(sol.t_stop)
            return n, time.perf_counter() - w, time.process_time() - c, t

        _, _, _, t_ff = ff_single()
        _, _, _, t_red = ff_reduced()
        row["solve_alignment_rel_err"] = abs(t_ff / t_exact - 1)
        row["solve_reduced_rel_err"] = abs(t_red / t_exact - 1)
        blocks["solve_alignment (1 per call)"] = lambda f=ff_single: f()[:3]
        blocks["solve_reduced (trajectory on the notebook's grid)"] = lambda f=ff_reduced: f()[:3]
        if ns is not None:
            sim = NotebookSimulation(ns, run, delta)
            torch.set_num_threads(1)  # p-vectors: 1 thread is its fastest (measured both)
            hist = sim.simulate()
            t_nb = sim.alignment_time(hist)
            row["notebook_steps_to_alignment"] = int(round(t_nb / run["lr"]))
            row["notebook_rel_err"] = abs(t_nb / t_exact - 1)

            def nb_block(sim=sim, row=row):
                torch.set_num_threads(1)
                wall, cpu, _ = timed(sim.simulate)
                # per trajectory = the steps the notebook needs to reach the event
                k = sim.steps / row["notebook_steps_to_alignment"]
                return k, wall, cpu

            blocks["notebook Euler (to alignment)"] = nb_block
        row["load_before"] = load()
        rows = interleave(blocks, rounds)
        row["load_after"] = load()
        row["per_trajectory"] = {k: summary(v) for k, v in rows.items()}
        if ns is not None:
            nb = rows["notebook Euler (to alignment)"]
            row["notebook_step_s"] = float(
                np.median([1 / (r["per_s"] * row["notebook_steps_to_alignment"]) for r in nb])
            )
            for k in blocks:
                if not k.startswith("notebook"):
                    row[f"ratio {k} / notebook"] = ratio(rows[k], nb)
        out["runs"].append(row)

    # Throughput: a batch of the notebook's amplitude with random D0.
    rng = np.random.default_rng(0)
    D0 = rng.uniform(-np.pi, np.pi, batch)
    t_ex = ff.alignment_time_exact(0.02, 0.02, D0, 23, delta, reduction="mean")
    moved = t_ex > 0
    t_b = np.asarray(alignment(0.02, 0.02, D0))
    errs = np.abs(t_b[moved] / t_ex[moved] - 1)

    def ff_batch():
        w, c, _ = timed(lambda: jax.block_until_ready(alignment(0.02, 0.02, D0)))
        return batch, w, c

    out["batch"] = dict(
        n=batch,
        max_rel_err=float(errs.max()),
        median_rel_err=float(np.median(errs)),
        **summary(interleave({"solve_alignment batch": ff_batch}, rounds)["solve_alignment batch"]),
    )

    # Equal accuracy, both ways (the notebook's D0 = 2(-0.72) + 2.91, its lr 1 and 0.1).
    if ns is not None:
        by_lr = {r["lr"]: r for r in out["runs"] if r["notebook_cell"] in (1, 6)}
        e1, e01 = by_lr[1.0]["notebook_rel_err"], by_lr[0.1]["notebook_rel_err"]
        C = e1 / 1.0
        target = by_lr[1.0]["solve_alignment_rel_err"]
        lr_eq = target / C
        step_s = by_lr[1.0]["notebook_step_s"]
        steps_eq = by_lr[1.0]["t_exact"] / lr_eq
        out["equal_accuracy"] = dict(
            notebook_err_lr_1=e1,
            notebook_err_lr_0_1=e01,
            first_order_check_err_ratio=e1 / e01 if e01 else math.inf,
            fitted_C=C,
            target_rel_err=target,
            lr_for_target=lr_eq,
            notebook_seconds_per_trajectory_extrapolated=steps_eq * step_s,
            method="extrapolated: measured seconds per Euler step x steps for the target error "
            "(err = C lr, C from lr = 1)",
        )
        ff_s = 1 / by_lr[1.0]["per_trajectory"]["solve_alignment (1 per call)"]["per_s_median"]
        out["equal_accuracy"]["ratio_solve_alignment_single_extrapolated"] = (
            steps_eq * step_s / ff_s
        )
        # fourierflow loosened to the notebook's lr = 1 accuracy.
        loose = []
        D0n, amp = by_lr[1.0]["D0"], 0.02
        for rtol in (1e-3, 1e-4, 1e-5):
            fn = jax.jit(
                lambda a, b, D, rtol=rtol: ff.solve_alignment(
                    a, b, D, 23, delta, reduction="mean",
                    stepsize_controller=dfx.PIDController(rtol=rtol, atol=rtol * 1e-2),
                ).ts[..., 0]
            )  # fmt: skip
            t = float(fn(amp, amp, D0n))
            n = 50
            w, c, _ = timed(
                lambda fn=fn, n=n: [jax.block_until_ready(fn(amp, amp, D0n)) for _ in range(n)]
            )
            loose.append(
                dict(
                    rtol=rtol,
                    rel_err=abs(t / by_lr[1.0]["t_exact"] - 1),
                    per_s=n / w,
                    per_cpu_s=n / c,
                )
            )
        out["equal_accuracy"]["solve_alignment_loosened"] = loose
    return out


def _print_simulation(r: dict) -> None:
    for row in r["runs"]:
        print(
            f"simulation (notebook cell {row['notebook_cell']}: lr {row['lr']}, "
            f"D0 {row['D0']:.2f}, t_exact {row['t_exact']:.1f}; "
            f"load {row['load_before']} -> {row['load_after']}):"
        )
        for k, v in row["per_trajectory"].items():
            err = (
                row.get("notebook_rel_err")
                if k.startswith("notebook")
                else row["solve_alignment_rel_err"]
                if k.startswith("solve_alignment")
                else row["solve_reduced_rel_err"]
            )
            print(
                f"  {k:50s} {v['per_s_median']:10.2f} trajectories/s wall, "
                f"{v['per_cpu_s_median']:10.2f} per CPU-s; rel. err of t_delta {err:.1e}"
            )
        if "notebook_step_s" in row:
            print(
                f"  notebook: {row['notebook_steps_to_alignment']} Euler steps, "
                f"{row['notebook_step_s'] * 1e3:.3f} ms per step"
            )
        for k, v in row.items():
            if k.startswith("ratio "):
                print(
                    f"  {k}: {v['per_s']['of_medians']:.0f}x wall, "
                    f"{v['per_cpu_s']['of_medians']:.0f}x per CPU-s "
                    f"(rounds {v['per_cpu_s']['per_round_min']:.0f}-"
                    f"{v['per_cpu_s']['per_round_max']:.0f})"
                )
    b = r["batch"]
    print(
        f"solve_alignment on a batch of {b['n']}: {b['per_s_median']:.3e} trajectories/s wall, "
        f"{b['per_cpu_s_median']:.3e} per CPU-s; max rel. err {b['max_rel_err']:.1e}"
    )
    if "equal_accuracy" in r:
        e = r["equal_accuracy"]
        print(
            f"equal accuracy: notebook Euler err {e['notebook_err_lr_1']:.1e} (lr 1), "
            f"{e['notebook_err_lr_0_1']:.1e} (lr 0.1); at fourierflow's {e['target_rel_err']:.1e} "
            f"it would need lr {e['lr_for_target']:.1e}: "
            f"{e['notebook_seconds_per_trajectory_extrapolated']:.3g} s per trajectory "
            f"(extrapolated) = {e['ratio_solve_alignment_single_extrapolated']:.3g}x "
            "solve_alignment's single call"
        )
        for x in e["solve_alignment_loosened"]:
            print(
                f"  solve_alignment at rtol {x['rtol']:.0e}: rel. err {x['rel_err']:.1e}, "
                f"{x['per_s']:.0f} calls/s wall"
            )


# ---------------------------------------------------------------------------------------------


def main(
    out: str = "benchmarks/results",
    paper_repo: str = DEFAULT_PAPER_REPO,
    scratch: str | None = None,
    parts: tuple[str, ...] = ("train", "simulation"),
    sizes: tuple[tuple[int, int], ...] = ((23, 512), (97, 1024)),
    rounds: int = 4,
    ff_seconds: float = 1.5,
    paper_seconds: float = 3.0,
    delta: float = 0.01,
    batch: int = 10_000,
) -> dict:
    """Time the paper's trainer and simulation against fourierflow (see the module docstring).

    **Arguments:**

    - `out`: output folder; `paper_repo`: the paper's checkout (skipped when absent);
      `scratch`: where its files are extracted (default: a new temporary folder).
    - `parts`: `"train"` and/or `"simulation"`; `sizes`: `(p, width)` of the training runs.
    - `rounds`: alternations of the timed blocks; `ff_seconds`, `paper_seconds`: target length
      of one timed block.
    - `delta`: the alignment tolerance; `batch`: states of the batched `solve_alignment`.
    """
    code = extract_paper_code(paper_repo, scratch)
    results = dict(
        machine=platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        jax=jax.__version__,
        backend=jax.default_backend(),
        paper_code=code,
        load_start=load(),
    )
    modules = None
    if code is not None:
        import torch

        modules = import_paper(code)
        results["torch"] = torch.__version__
        results["stubbed_optional_imports"] = modules["stubbed"]
        print(f"paper code {code['commit']} extracted to {code['dest']}; torch {torch.__version__}")
    if "train" in parts:
        results["train"] = []
        for p, width in sizes:
            r = bench_training(code, modules, p, width, rounds, ff_seconds, paper_seconds)
            results["train"].append(r)
            _print_training(r)
    if "simulation" in parts:
        jax.config.update("jax_enable_x64", True)  # the notebook and the reduced ODE: float64
        ns = load_notebook_simulation(code) if code is not None else None
        results["simulation"] = bench_simulation(ns, delta, rounds, batch)
        _print_simulation(results["simulation"])
    results["load_end"] = load()
    path = write_json(Path(out) / f"{jax.default_backend()}_bench_reference.json", results)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
