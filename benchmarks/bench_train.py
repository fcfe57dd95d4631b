"""Benchmark of `fourierflow.train` on the `standard` and `grokking` configurations.

Reports, separately, compile time and run time (metrics every 100 steps, as in the reference),
steps per wall second and per CPU second (CPU time is far less sensitive to other processes on
a shared machine), the bare step rate (one chunk, no intermediate metrics), the FLOP rate of the
step's matmuls, and a plain `jnp` matmul's GFLOP/s on this CPU for comparison, with the load
average before and after. Reference PyTorch trainer: 143 (standard) and 196 (grokking) steps/s.
"""

import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

import fourierflow as ff
from fourierflow._io import write_json

REFERENCE_STEPS_PER_S = dict(standard=143.0, grokking=196.0)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _timed(fn, *args, repeat=5):
    """Best-of wall and CPU seconds of `fn(*args)` (already compiled)."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn(*args))
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus), float(np.median(walls))


def matmul_gflops(m: int, k: int, n: int, dtype=jnp.float32, repeat: int = 20) -> dict:
    """GFLOP/s of a jitted `(m, k) @ (k, n)` matmul, repeated `repeat` times inside one call."""
    a = jr.normal(jr.key(0), (m, k), dtype)
    b = jr.normal(jr.key(1), (k, n), dtype)

    @jax.jit
    def f(a, b):
        def body(c, _):
            return c + (a * (1 + 1e-9 * c[0, 0])) @ b, None  # a dependent chain, not hoisted

        return jax.lax.scan(body, jnp.zeros((m, n), dtype), None, length=repeat)[0]

    f(a, b).block_until_ready()
    wall, cpu, _ = _timed(f, a, b)
    flops = 2.0 * m * k * n * repeat
    return dict(shape=[m, k, n], gflops_wall=flops / wall / 1e9, gflops_cpu=flops / cpu / 1e9)


def step_flops(config: ff.TrainConfig, split: ff.Split) -> float:
    """Matmul FLOPs of one training step: `u = theta S^T`, `f = xi^T h` forward; `g_h`,
    `g_xi`, `g_theta` backward: `5 * 2 M p n` with `n` the folded train pairs."""
    n = len(ff.symmetric_pairs(split)[0])
    return 10.0 * config.width * config.p * n


def bench_config(name: str, steps: int, log_every: int = 100, seed: int = 0) -> dict:
    config = ff.get_config(name, steps=steps, log_every=log_every)
    net0, split = ff.config_setup(config, seed)
    opt = config.make_optimizer()
    kw = dict(split=split, reduction=config.reduction, progress=False)
    result = ff.train(net0, opt, steps=steps, log_every=log_every, **kw)
    flops = step_flops(config, split)
    # Bare step rate: one chunk of `bare` steps, so one metrics evaluation at the end
    # (`run_time` excludes the compilation).
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
        reference_pytorch_steps_per_s=REFERENCE_STEPS_PER_S.get(name),
        speedup_vs_reference=steps / result.run_time / REFERENCE_STEPS_PER_S[name],
        final_train_loss=float(result.history.train_loss[-1]),
    )


def main(
    out: str = "out/bench_train",
    standard_steps: int = 5000,
    grokking_steps: int = 50_000,
) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    results = dict(
        cpu=_cpu_model(),
        n_cpus=os.cpu_count(),
        jax=jax.__version__,
        dtype="float32",
        load_average_before=load_before,
        matmul_1024=matmul_gflops(1024, 1024, 1024),
        matmul_step_shape=matmul_gflops(23, 512, 276),
    )
    print(
        f"load average {load_before}; plain matmul 1024^3: "
        f"{results['matmul_1024']['gflops_wall']:.1f} GFLOP/s wall, "
        f"{results['matmul_1024']['gflops_cpu']:.1f} per CPU-second; step-shaped (23x512x276): "
        f"{results['matmul_step_shape']['gflops_wall']:.1f} GFLOP/s wall"
    )
    for name, steps in (("standard", standard_steps), ("grokking", grokking_steps)):
        r = bench_config(name, steps)
        results[name] = r
        print(
            f"{name}: {steps} steps, compile {r['compile_time_s']:.2f} s, run "
            f"{r['run_time_s']:.2f} s = {r['steps_per_s']:.0f} steps/s wall "
            f"({r['speedup_vs_reference']:.1f}x the reference's "
            f"{r['reference_pytorch_steps_per_s']:.0f}), {r['steps_per_cpu_s']:.0f} steps per "
            f"CPU-second; bare {r['bare_steps_per_s']:.0f} steps/s; matmuls "
            f"{r['step_matmul_mflop']:.1f} MFLOP/step = {r['step_matmul_gflops']:.1f} GFLOP/s "
            f"wall, {r['step_matmul_gflops_per_cpu_s']:.1f} per CPU-second"
        )
    results["load_average_after"] = os.getloadavg()
    print(f"load average after: {results['load_average_after']}")
    write_json(out / "bench_train.json", results)
    return results


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
