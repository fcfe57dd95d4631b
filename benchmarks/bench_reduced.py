"""Benchmark of the reduced ODE's event times (theory eq. (24), 10).

Two paths to `t_delta` for `n` random initial states (`alpha0 = beta0 = kappa`, kappa
log-uniform in [1e-4, 1e-1], D0 uniform in (-pi, pi], fixed `p` and `delta`), float64:

- `solve_alignment`: Diffrax solves that end exactly at the alignment event (Tsit5 + PID at
  `rtol`, `ell = log tan(|D|/2)` as the independent variable, each chunk one system with
  shared steps; and, for comparison, `shared_steps=False`: every element its own steps under
  vmap); trajectories solved to alignment per second, for each chunk size.
- `alignment_time_closed_form`: the jitted elliptic-integral closed form (Carlson R_F by
  duplication); event times per second.

Compile time (first call, including tracing) is reported separately from run time (the best of
`repeats` calls of the compiled program). Each size is one batch (one compilation per size).
Accuracy of both against `alignment_time_exact` (SciPy) is reported on the same states.

Run `python benchmarks/bench_reduced.py [--key value ...]`; prints and writes
`out/bench_reduced/results.json`. The machine may be shared: timings are noisy.
"""

import json
import os
import platform
import time

import jax

jax.config.update("jax_enable_x64", True)

import diffrax as dfx  # noqa: E402
import numpy as np  # noqa: E402

import fourierflow as ff  # noqa: E402


def _timed(fn, repeats):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        runs.append(time.perf_counter() - t0)
    best = min(runs)
    return out, {"compile_s": max(first - best, 0.0), "first_call_s": first, "run_s": best}


def main(
    out: str = "out/bench_reduced",
    ode_sizes: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000),
    chunk_sizes: tuple[int, ...] = (4096,),
    independent_size: int = 100_000,
    closed_form_sizes: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000),
    p: int = 23,
    delta: float = 0.01,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    repeats: int = 3,
    seed: int = 0,
):
    """Time event-terminated solves and the closed form over batches of initial states.

    **Arguments:**

    - `out`: output folder.
    - `ode_sizes`, `closed_form_sizes`: batch sizes for the two paths.
    - `chunk_sizes`: `solve_alignment` chunk sizes to time at every ODE size.
    - `independent_size`: batch size of the `shared_steps=False` comparison (0: skip).
    - `p`, `delta`: modulus and alignment tolerance; `rtol`, `atol`: solver tolerances.
    - `repeats`: timed calls of each compiled program (best kept); `seed`: sampling seed.
    """
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_max = max(max(ode_sizes, default=0), max(closed_form_sizes, default=0))
    kappa_all = 10 ** rng.uniform(-4, -1, n_max)
    D0_all = rng.uniform(-np.pi, np.pi, n_max)
    results = {
        "devices": [str(d) for d in jax.devices()],
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        "dtype": "float64",
        "p": p,
        "delta": delta,
        "rtol": rtol,
        "atol": atol,
        "ode": [],
        "closed_form": [],
    }
    runs = [(n, c, True) for n in ode_sizes for c in chunk_sizes]
    runs += [(independent_size, c, False) for c in chunk_sizes[:1] if independent_size]
    for n, chunk, shared in runs:
        kappa, D0 = kappa_all[:n], D0_all[:n]
        res, timing = _timed(
            lambda kappa=kappa, D0=D0, chunk=chunk, shared=shared: ff.solve_alignment(
                kappa,
                kappa,
                D0,
                p,
                delta,
                stepsize_controller=dfx.PIDController(rtol=rtol, atol=atol),
                chunk_size=chunk,
                shared_steps=shared,
            ),
            repeats if n <= 100_000 else 1,
        )
        check = slice(0, min(n, 20_000))
        exact = ff.alignment_time_exact(kappa[check], kappa[check], D0[check], p, delta)
        t = np.asarray(res.ts[..., 0])[check]
        moved = exact > 0
        row = dict(
            n=n,
            chunk_size=chunk,
            shared_steps=shared,
            **timing,
            per_second=n / timing["run_s"],
            mean_steps=float(np.mean(res.stats["num_steps"])),
            max_steps=int(np.max(res.stats["num_steps"])),
            max_rel_error=float(np.max(np.abs(t[moved] / exact[moved] - 1))),
        )
        results["ode"].append(row)
        print(
            f"ode{'' if shared else ' (alone)'} n={n:>8} chunk {chunk:>7}  compile "
            f"{row['compile_s']:6.2f} s  run {row['run_s']:8.4f} s  {row['per_second']:10.3e} /s"
            f"  steps mean {row['mean_steps']:.1f} max {row['max_steps']}"
            f"  max rel err {row['max_rel_error']:.1e}"
        )
    for n in closed_form_sizes:
        kappa, D0 = kappa_all[:n], D0_all[:n]
        t, timing = _timed(
            lambda kappa=kappa, D0=D0: ff.alignment_time_closed_form(kappa, kappa, D0, p, delta),
            repeats,
        )
        check = slice(0, min(n, 100_000))
        exact = ff.alignment_time_exact(kappa[check], kappa[check], D0[check], p, delta)
        t = np.asarray(t)[check]
        moved = exact > 0
        row = dict(
            n=n,
            **timing,
            per_second=n / timing["run_s"],
            max_rel_error=float(np.max(np.abs(t[moved] / exact[moved] - 1))),
        )
        results["closed_form"].append(row)
        print(
            f"closed form n={n:>8}  compile {row['compile_s']:6.2f} s  run {row['run_s']:8.4f} s"
            f"  {row['per_second']:10.3e} /s  max rel err {row['max_rel_error']:.1e}"
        )
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
