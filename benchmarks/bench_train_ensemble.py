"""Benchmark of `fourierflow.run_ensemble`: 64 seeds of the `standard` configuration as one
ensemble (one compiled program, the members `vmap`-ed) against sequential `run_config` runs.

float32, as `bench_train.py`. Reports per-member steps per wall second and per CPU second
(CPU time is far less sensitive to other processes on a shared machine), compile times, the
FLOP rate of the ensemble's matmuls against this CPU's measured matmul rate (a jitted
1024x1024 float32 `jnp.dot`, in the same run) and the ensemble / sequential ratio. The
sequential side runs `sequential` seeds and extrapolates to `seeds` (each run's compilation
included in the total, as a loop over `run_config` pays it).
"""

import os
import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from bench_reference import cpu_model

import fourierflow as ff
from fourierflow import write_json


def matmul_gflops(n: int = 1024, repeat: int = 20, rounds: int = 5) -> dict:
    """GFLOP/s (best of `rounds`, wall and CPU) of a jitted `(n, n) @ (n, n)` float32
    `jnp.dot`, `repeat` dependent products inside one call (nothing hoisted)."""
    a = jr.normal(jr.key(0), (n, n), jnp.float32)
    b = jr.normal(jr.key(1), (n, n), jnp.float32)

    @jax.jit
    def f(a, b):
        def body(c, _):
            return c + jnp.dot(a * (1 + 1e-9 * c[0, 0]), b), None

        return jax.lax.scan(body, jnp.zeros((n, n), jnp.float32), None, length=repeat)[0]

    f(a, b).block_until_ready()
    walls, cpus = [], []
    for _ in range(rounds):
        w, c = time.perf_counter(), time.process_time()
        f(a, b).block_until_ready()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    flops = 2.0 * n**3 * repeat
    return dict(n=n, gflops_wall=flops / min(walls) / 1e9, gflops_cpu=flops / min(cpus) / 1e9)


def step_flops(config: ff.TrainConfig, split: ff.Split) -> float:
    """Matmul FLOPs of one training step of one member: `u = theta S^T`, `f = xi^T h` forward,
    `g_h`, `g_xi`, `g_theta` backward, `2 M p n` each, `n` the folded train pairs."""
    return 10.0 * config.width * config.p * len(ff.symmetric_pairs(split)[0])


def main(
    out: str = "benchmarks/results/cpu_bench_train_ensemble.json",
    seeds: int = 64,
    sequential: int = 4,
    steps: int = 5000,
    log_every: int = 100,
) -> dict:
    load_before = os.getloadavg()
    peak = matmul_gflops(1024)
    config = ff.get_config("standard", steps=steps, log_every=log_every)
    flops = step_flops(config, ff.full_split(config.p))
    print(
        f"load average {load_before}; jnp.dot 1024^3 float32: {peak['gflops_wall']:.1f} GFLOP/s "
        f"wall, {peak['gflops_cpu']:.1f} per CPU-second; {flops / 1e6:.1f} MFLOP of matmuls per "
        "member-step"
    )

    t0 = time.perf_counter()
    ensemble = ff.run_ensemble(config, range(seeds), progress=False)
    ensemble_total = time.perf_counter() - t0
    member_steps = seeds * steps
    ens = dict(
        members=seeds,
        steps=steps,
        compile_time_s=ensemble.compile_time,
        run_time_s=ensemble.run_time,
        run_cpu_time_s=ensemble.run_cpu_time,
        total_wall_s=ensemble_total,
        member_steps_per_s=member_steps / ensemble.run_time,
        member_steps_per_cpu_s=member_steps / ensemble.run_cpu_time,
        matmul_gflops=flops * member_steps / ensemble.run_time / 1e9,
        matmul_gflops_per_cpu_s=flops * member_steps / ensemble.run_cpu_time / 1e9,
        outcomes=ff.outcome_names(ensemble.result).tolist().count("successful"),
    )
    ens["fraction_of_matmul_peak"] = ens["matmul_gflops"] / peak["gflops_wall"]
    ens["fraction_of_matmul_peak_cpu"] = ens["matmul_gflops_per_cpu_s"] / peak["gflops_cpu"]
    print(
        f"ensemble of {seeds}: compile {ens['compile_time_s']:.1f} s, run {ens['run_time_s']:.1f}"
        f" s = {ens['member_steps_per_s']:.0f} member-steps/s wall "
        f"({ens['member_steps_per_cpu_s']:.0f} per CPU-second); matmuls "
        f"{ens['matmul_gflops']:.1f} GFLOP/s = {ens['fraction_of_matmul_peak']:.2f} of jnp.dot's"
    )

    runs = []
    t0 = time.perf_counter()
    for seed in range(sequential):
        w = time.perf_counter()
        r = ff.run_config(config, seed=seed, progress=False)
        runs.append(
            dict(
                seed=seed,
                compile_time_s=r.compile_time,
                run_time_s=r.run_time,
                run_cpu_time_s=r.run_cpu_time,
                total_wall_s=time.perf_counter() - w,
                max_rel_diff_to_member=float(
                    max(
                        np.max(np.abs(np.asarray(a) - np.asarray(b)))
                        / np.max(np.abs(np.asarray(b)))
                        for a, b in zip(
                            jax.tree.leaves(ensemble.member(seed).net),
                            jax.tree.leaves(r.net),
                            strict=True,
                        )
                    )
                ),
            )
        )
    sequential_wall = time.perf_counter() - t0
    run_time = sum(r["run_time_s"] for r in runs)
    run_cpu = sum(r["run_cpu_time_s"] for r in runs)
    seq = dict(
        runs_timed=sequential,
        extrapolated_to=seeds,
        runs=runs,
        steps_per_s=sequential * steps / run_time,
        steps_per_cpu_s=sequential * steps / run_cpu,
        matmul_gflops=flops * sequential * steps / run_time / 1e9,
        total_wall_s_extrapolated=sequential_wall * seeds / sequential,
    )
    seq["fraction_of_matmul_peak"] = seq["matmul_gflops"] / peak["gflops_wall"]
    ratio = dict(
        run_wall=ens["member_steps_per_s"] / seq["steps_per_s"],
        run_cpu=ens["member_steps_per_cpu_s"] / seq["steps_per_cpu_s"],
        total_wall=seq["total_wall_s_extrapolated"] / ensemble_total,
    )
    print(
        f"sequential ({sequential} runs, extrapolated to {seeds}): {seq['steps_per_s']:.0f} "
        f"steps/s wall ({seq['steps_per_cpu_s']:.0f} per CPU-second), compile "
        f"{np.mean([r['compile_time_s'] for r in runs]):.1f} s per run; total "
        f"{seq['total_wall_s_extrapolated']:.0f} s vs the ensemble's {ensemble_total:.0f} s"
    )
    print(
        f"ensemble / sequential: {ratio['run_wall']:.2f}x per member-step (wall), "
        f"{ratio['run_cpu']:.2f}x per CPU-second, {ratio['total_wall']:.2f}x in total wall time"
    )
    results = dict(
        cpu=cpu_model(),
        n_cpus=os.cpu_count(),
        jax=jax.__version__,
        dtype="float32",
        config="standard",
        load_average_before=load_before,
        matmul_1024=peak,
        step_matmul_mflop=flops / 1e6,
        ensemble=ens,
        sequential=seq,
        ensemble_over_sequential=ratio,
        load_average_after=os.getloadavg(),
    )
    write_json(out, results)
    return results


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
