"""Benchmark of `fourierflow.train`, float32, full batch.

1. Runs: `standard` (5000 steps) and `grokking` (50000 steps) at p = 23, width 512, metrics
   every 100 steps: compile time and run time separately, steps per wall second and per CPU
   second (all threads; far less sensitive to other processes on a shared machine), and the
   bare step rate (one chunk, one metrics evaluation).
2. FLOP rate: at p = 23 (width 512) and p = 97 (width 1024), blocks of a plain jitted 1024^3
   float32 matmul chain alternate with blocks of `train` steps; the step's matmul FLOPs
   (`bench_reference.step_matmul_flops`: five dense products of `2 M p n`, n the folded train
   pairs) per CPU second, and their fraction of the matmul's, per round.
3. Reference: the paper's own trainer (`bench_reference.py`, extracted from `--paper-repo`;
   skipped with a message when absent), timed in blocks alternating with `train` blocks, for
   `standard` and `grokking`: ratios from those interleaved runs, against its core step
   (forward, backward, AdamW) and its step as written (which also evaluates every step).

Run `python benchmarks/bench_train.py [--key value ...]`; prints and writes
`benchmarks/results/<backend>_bench_train.json`.
"""

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from bench_reference import (
    DEFAULT_PAPER_REPO,
    _print_training,
    bench_training,
    cpu_model,
    extract_paper_code,
    import_paper,
    interleave,
    load,
    step_matmul_flops,
    summary,
    timed,
)

import fourierflow as ff
from fourierflow import write_json


def matmul_block(m: int = 1024, k: int = 1024, n: int = 1024, repeat: int = 20, dtype=jnp.float32):
    """A block callable `() -> (flops, wall_s, cpu_s)`: a jitted chain of `repeat` dependent
    `(m, k) @ (k, n)` matmuls (compiled on creation)."""
    a = jr.normal(jr.key(0), (m, k), dtype)
    b = jr.normal(jr.key(1), (k, n), dtype)

    @jax.jit
    def f(a, b):
        def body(c, _):
            return c + (a * (1 + 1e-9 * c[0, 0])) @ b, None  # a dependent chain, not hoisted

        return jax.lax.scan(body, jnp.zeros((m, n), dtype), None, length=repeat)[0]

    f(a, b).block_until_ready()

    def block():
        wall, cpu, _ = timed(lambda: f(a, b).block_until_ready())
        return 2.0 * m * k * n * repeat, wall, cpu

    return block


def run_config(name: str, steps: int, log_every: int = 100, seed: int = 0) -> dict:
    config = ff.get_config(name, steps=steps, log_every=log_every)
    net0, split = ff.config_setup(config, seed)
    opt = config.make_optimizer()
    kw = dict(split=split, reduction=config.reduction, progress=False)
    result = ff.train(net0, opt, steps=steps, log_every=log_every, **kw)
    flops = step_matmul_flops(config.width, split)
    bare = min(steps, 2000)
    bare_result = ff.train(net0, opt, steps=bare, log_every=bare, **kw)
    return dict(
        config=name,
        steps=steps,
        log_every=log_every,
        compile_time_s=result.compile_time,
        run_time_s=result.run_time,
        steps_per_s=steps / result.run_time,
        run_cpu_time_s=result.run_cpu_time,
        steps_per_cpu_s=steps / result.run_cpu_time,
        bare_steps=bare,
        bare_steps_per_s=bare / bare_result.run_time,
        bare_steps_per_cpu_s=bare / bare_result.run_cpu_time,
        step_matmul_mflop=flops / 1e6,
        step_matmul_gflops=flops * steps / result.run_time / 1e9,
        step_matmul_gflops_per_cpu_s=flops * steps / result.run_cpu_time / 1e9,
        final_train_loss=float(result.history.train_loss[-1]),
    )


def flop_rate(p: int, width: int, rounds: int, seconds: float, matmul) -> dict:
    """The step's matmul GFLOP/s against the plain matmul's, in alternating blocks."""
    config = ff.get_config("standard", p=p, width=width)
    net0, split = ff.config_setup(config, 0)
    opt = config.make_optimizer()
    flops = step_matmul_flops(width, split)

    def train_block(steps):
        res = ff.train(
            net0, opt, steps=steps, log_every=steps, split=split,
            reduction=config.reduction, progress=False,
        )  # fmt: skip
        return flops * steps, res.run_time, res.run_cpu_time

    probe = train_block(10 if p < 50 else 2)
    steps = max(2, int(seconds / (probe[1] / probe[0] * flops)))
    start = load()
    rows = interleave({"matmul_1024": matmul, "train_step": lambda: train_block(steps)}, rounds)
    frac = [
        s["per_cpu_s"] / m["per_cpu_s"]
        for s, m in zip(rows["train_step"], rows["matmul_1024"], strict=True)
    ]
    frac_wall = [
        s["per_s"] / m["per_s"]
        for s, m in zip(rows["train_step"], rows["matmul_1024"], strict=True)
    ]
    out = dict(
        p=p,
        width=width,
        step_matmul_mflop=flops / 1e6,
        block_steps=steps,
        load_before=start,
        load_after=load(),
        matmul_gflops={
            k: v / 1e9 for k, v in summary(rows["matmul_1024"]).items() if k != "rounds"
        },
        step_gflops={k: v / 1e9 for k, v in summary(rows["train_step"]).items() if k != "rounds"},
        fraction_of_matmul_rate_per_cpu_s=dict(median=float(np.median(frac)), rounds=frac),
        fraction_of_matmul_rate_wall=dict(median=float(np.median(frac_wall)), rounds=frac_wall),
        rounds=rows,
    )
    out["steps_per_s_median"] = out["step_gflops"]["per_s_median"] * 1e9 / flops
    out["steps_per_cpu_s_median"] = out["step_gflops"]["per_cpu_s_median"] * 1e9 / flops
    return out


def main(
    out: str = "benchmarks/results",
    standard_steps: int = 5000,
    grokking_steps: int = 50_000,
    flop_sizes: tuple[tuple[int, int], ...] = ((23, 512), (97, 1024)),
    rounds: int = 4,
    block_seconds: float = 1.5,
    paper_repo: str = DEFAULT_PAPER_REPO,
    paper_seconds: float = 3.0,
) -> dict:
    """Time `train` (runs, FLOP rate, against the paper's trainer); see the module docstring.

    **Arguments:**

    - `out`: output folder; `standard_steps`, `grokking_steps`: lengths of the two runs.
    - `flop_sizes`: `(p, width)` of the FLOP-rate measurement; `rounds`: alternations;
      `block_seconds`: target length of one timed block.
    - `paper_repo`: the paper's checkout (the reference is skipped when absent);
      `paper_seconds`: target length of one block of the paper's trainer.
    """
    results = dict(
        cpu=cpu_model(),
        n_cpus=os.cpu_count(),
        jax=jax.__version__,
        backend=jax.default_backend(),
        dtype="float32",
        load_average_before=load(),
    )
    matmul = matmul_block()
    results["flop_rate"] = []
    for p, width in flop_sizes:
        r = flop_rate(p, width, rounds, block_seconds, matmul)
        results["flop_rate"].append(r)
        print(
            f"FLOP rate p={p} width={width} ({r['step_matmul_mflop']:.1f} MFLOP of matmuls per "
            f"step; load {r['load_before']} -> {r['load_after']}): matmul 1024^3 "
            f"{r['matmul_gflops']['per_s_median']:.1f} GFLOP/s wall, "
            f"{r['matmul_gflops']['per_cpu_s_median']:.1f} per CPU-s; step "
            f"{r['step_gflops']['per_s_median']:.1f} wall, "
            f"{r['step_gflops']['per_cpu_s_median']:.1f} per CPU-s = "
            f"{r['fraction_of_matmul_rate_per_cpu_s']['median']:.0%} of the matmul "
            f"per CPU-s ({r['fraction_of_matmul_rate_wall']['median']:.0%} wall); "
            f"{r['steps_per_s_median']:.1f} steps/s wall, "
            f"{r['steps_per_cpu_s_median']:.1f} per CPU-s"
        )
    for name, steps in (("standard", standard_steps), ("grokking", grokking_steps)):
        r = run_config(name, steps)
        results[name] = r
        print(
            f"{name}: {steps} steps, compile {r['compile_time_s']:.2f} s, run "
            f"{r['run_time_s']:.2f} s = {r['steps_per_s']:.0f} steps/s wall, "
            f"{r['steps_per_cpu_s']:.0f} per CPU-second; bare {r['bare_steps_per_s']:.0f} steps/s; "
            f"matmuls {r['step_matmul_mflop']:.1f} MFLOP/step = "
            f"{r['step_matmul_gflops']:.1f} GFLOP/s wall, "
            f"{r['step_matmul_gflops_per_cpu_s']:.1f} per CPU-second (load {load()})"
        )
    code = extract_paper_code(paper_repo)
    if code is None:
        results["reference"] = "not measured: the paper's code was not found (see --paper-repo)"
    else:
        modules = import_paper(code)
        results["paper_code"] = code
        results["reference"] = []
        for name in ("standard", "grokking"):
            config = ff.get_config(name)
            r = bench_training(
                code, modules, config.p, config.width, rounds, block_seconds, paper_seconds, name
            )
            results["reference"].append(r)
            _print_training(r)
    results["load_average_after"] = load()
    print(f"load average after: {results['load_average_after']}")
    path = write_json(Path(out) / f"{jax.default_backend()}_bench_train.json", results)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
