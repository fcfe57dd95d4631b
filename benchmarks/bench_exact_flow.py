"""Benchmark of the exact gradient flow (theory eq. (18)): vector-field evaluations per second at
p=23,
width 512, and the wall time to integrate from `init_gaussian(scale)` to the end of the initial
stage (`max |weights| = c_end`), for both reductions. Compile time is reported separately from
run time (the best of `repeats` runs of the compiled program).

Run `python benchmarks/bench_exact_flow.py [--key value ...]`; prints and writes
`out/bench_exact_flow/results.json`.
"""

import json
import os
import platform
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402

import fourierflow as ff  # noqa: E402


def _block(tree):
    return jax.block_until_ready(tree)


def main(
    out: str = "out/bench_exact_flow",
    p: int = 23,
    width: int = 512,
    scale: float = 0.1,
    c_end: float = 1.0,
    n_evals: int = 200,
    repeats: int = 3,
    seed: int = 0,
):
    """Time the exact flow's vector field and an integration to `c_end`.

    **Arguments:**

    - `out`: output folder; `p`, `width`: problem size; `scale`: `init_gaussian` scale.
    - `c_end`: the end of the initial stage (max |weight|) that stops the solve.
    - `n_evals`: vector-field calls timed; `repeats`: runs of the compiled solve (best kept).
    - `seed`: initialization seed.
    """
    os.makedirs(out, exist_ok=True)
    net0 = ff.init_gaussian(jr.key(seed), p, width, scale)
    n = p * p
    results = dict(
        p=p,
        width=width,
        scale=scale,
        c_end=c_end,
        dtype="float64",
        backend=jax.default_backend(),
        device=str(jax.devices()[0]),
        machine=platform.processor() or platform.machine(),
        note="shared, loaded CPU: timings are noisy",
        reductions={},
    )
    for reduction in ("sum", "mean"):
        args = ff.flow_args(p, reduction=reduction)
        field = jax.jit(ff.exact_vector_field)
        t0 = time.perf_counter()
        _block(field(0.0, net0, args))
        compile_vf = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(n_evals):
            v = field(0.0, net0, args)
        _block(v)
        per_eval = (time.perf_counter() - t0) / n_evals

        # Time in "mean" runs n times longer (theory eq. (6)); the horizon is only an upper bound,
        # the c_end event stops the solve.
        t1 = 1e3 * (1 if reduction == "sum" else n)
        ts = jnp.array([0.0, t1])
        t0 = time.perf_counter()
        event = ff.MagnitudeAbove(c_end)
        sol = ff.solve_exact(net0, ts, reduction=reduction, event=event)
        _block(sol.t_stop)
        first = time.perf_counter() - t0
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            sol = ff.solve_exact(net0, ts, reduction=reduction, event=event)
            _block(sol.t_stop)
            runs.append(time.perf_counter() - t0)
        run = min(runs)
        results["reductions"][reduction] = dict(
            vector_field_compile_s=compile_vf,
            vector_field_evals_per_s=1.0 / per_eval,
            solve_compile_s=first - run,
            solve_run_s=run,
            solve_runs_s=runs,
            t_stop=float(sol.t_stop),
            stopped_on_c_end=bool(sol.stopped_by(ff.MagnitudeAbove)),
            num_accepted_steps=int(sol.stats["num_accepted_steps"]),
        )
        print(reduction, json.dumps(results["reductions"][reduction], indent=1))
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
