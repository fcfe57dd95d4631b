"""Benchmark: reduced-ODE trajectories solved to their alignment event per second.

For 1e3 .. 1e6 initial states (D0 uniform, kappa log-uniform in [1e-4, 1e-1], p = 23,
delta = 1e-2, alpha0 = beta0 = kappa, float64):

- `ode`: `fourierflow.sweep_alignment(method="ode")`: Diffrax solves that end exactly at the
  alignment event (Tsit5, rtol 1e-6), each chunk (per device) one system with shared steps,
  elements put into chunks by their span in ell; compile time measured separately (first
  call on the same chunk shape) from run time.
- `closed_form`: `sweep_alignment(method="closed_form")` and the bare jitted
  `alignment_time_closed_form` (no sweep machinery).
- `reference`: the reference code's way: one trajectory at a time, a Python loop of fixed
  Euler steps in NumPy scalars, stopping at the first step with |sin D| <= delta on the aligned
  side. Its step is chosen for the SAME median relative error of t_delta as the ODE path
  (Euler's error is first order: measured at two step sizes, the constant fitted, the step
  for the target error extrapolated, then timed on a few trajectories at that step).

Accuracy of every path: relative error of t_delta against `alignment_time_exact` (scipy).
The machine is a shared 2-core CPU: timings are noisy (take the best of `repeats`).
Run: `python benchmarks/bench_sweeps.py` (writes out/bench_sweeps/results.json).
"""

import json
import math
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import fourierflow as ff  # noqa: E402


def _inputs(n, p, delta, seed=0):
    rng = np.random.default_rng(seed)
    D0 = rng.uniform(-np.pi, np.pi, n)
    kappa = 10 ** rng.uniform(-4, -1, n)
    return D0, kappa, np.full(n, p), np.full(n, delta)


def _rel_err(t, exact):
    ok = np.isfinite(exact) & (exact > 0)
    return np.abs(t[ok] / exact[ok] - 1)


def euler_alignment_time(D0, kappa, p, delta, dt, max_steps=10**8):
    """The reference code's way: fixed Euler steps of (alpha, beta, D), NumPy scalars, one
    trajectory, "sum" rate p. Returns (t_delta, steps)."""
    alpha = beta = np.float64(kappa)
    D = np.float64(D0)
    r = np.float64(p)
    for step in range(1, max_steps + 1):
        c, s = np.cos(D), np.sin(D)
        d_alpha = 2 * r * alpha * beta * c
        d_beta = r * alpha**2 * c
        d_D = -r * (4 * beta + alpha**2 / beta) * s
        alpha, beta, D = alpha + dt * d_alpha, beta + dt * d_beta, D + dt * d_D
        if np.cos(D) > 0 and abs(np.sin(D)) <= delta:
            return step * dt, step
    return math.inf, max_steps


def _time_best(fn, repeats):
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(
    out: str = "out/bench_sweeps",
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000),
    ode_max_size: int = 1_000_000,
    chunk_size: int | None = None,
    p: int = 23,
    delta: float = 1e-2,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    repeats: int = 2,
    n_check: int = 2000,
    n_euler: int = 5,
    profile_chunks: tuple[int, ...] = (1024, 4096, 16384, 65536),
):
    """Time `sweep_alignment` (both methods), the bare closed form and the reference's way.

    **Arguments:**

    - `out`: output folder; `sizes`: batch sizes; `ode_max_size`: the largest ODE batch.
    - `chunk_size`: the sweeps' chunk size (default: `alignment_chunk_size()` per device);
      `p`, `delta`, `rtol`, `atol`: the problem.
    - `repeats`: timed calls (best kept); `n_check`: states checked against scipy.
    - `n_euler`: trajectories of the reference's Euler loop (0: skip it).
    - `profile_chunks`: chunk sizes of the throughput profile at 1e5 states.
    """
    os.makedirs(out, exist_ok=True)
    if chunk_size is None:
        chunk_size = ff.alignment_chunk_size() * len(jax.devices())
    results = {
        "devices": [str(d) for d in jax.devices()],
        "p": p,
        "delta": delta,
        "rtol": rtol,
        "atol": atol,
        "chunk_size": chunk_size,
        "note": "shared 2-core CPU: noisy timings (best of `repeats`)",
        "ode": [],
        "closed_form_sweep": [],
        "closed_form_bare": [],
    }
    # Accuracy of each path on n_check states against the scipy reference.
    D0, kappa, ps, deltas = _inputs(n_check, p, delta, seed=1)
    exact = ff.alignment_time_exact(kappa, kappa, D0, p, delta)
    r = ff.sweep_alignment(D0, kappa, ps, deltas, rtol=rtol, atol=atol, progress=False)
    err_ode = _rel_err(r["t_delta"], exact)
    rc = ff.sweep_alignment(D0, kappa, ps, deltas, method="closed_form", progress=False)
    err_cf = _rel_err(rc["t_delta"], exact)
    results["accuracy"] = {
        "ode_median_rel_err": float(np.median(err_ode)),
        "ode_max_rel_err": float(err_ode.max()),
        "ode_mean_steps": float(np.mean(r["num_steps"])),
        "closed_form_median_rel_err": float(np.median(err_cf)),
        "closed_form_max_rel_err": float(err_cf.max()),
    }
    print("accuracy", results["accuracy"])

    for method in ("ode", "closed_form"):
        for n in sizes:
            if method == "ode" and n > ode_max_size:
                continue
            D0, kappa, ps, deltas = _inputs(n, p, delta)
            chunk = min(n, chunk_size)

            def run(D0=D0, kappa=kappa, ps=ps, deltas=deltas, chunk=chunk, method=method):
                return ff.sweep_alignment(
                    D0,
                    kappa,
                    ps,
                    deltas,
                    method=method,
                    rtol=rtol,
                    atol=atol,
                    chunk_size=chunk,
                    progress=False,
                )

            # First call on this chunk shape: compile + one run of a single chunk.
            t0 = time.perf_counter()
            run(D0[:chunk], kappa[:chunk], ps[:chunk], deltas[:chunk])
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            run(D0[:chunk], kappa[:chunk], ps[:chunk], deltas[:chunk])
            one_chunk = time.perf_counter() - t0
            wall = _time_best(run, repeats if n <= 100_000 else 1)
            row = {
                "n": n,
                "compile_s": max(first - one_chunk, 0.0),
                "run_s": wall,
                "per_s": n / wall,
            }
            results[method if method == "ode" else "closed_form_sweep"].append(row)
            print(method, row)

    # Profile: throughput against chunk size (cache effects on CPU) and solver tolerance
    # (is the step count what costs?), at n = 1e5 (first call per chunk size compiles).
    results["profile"] = []
    D0, kappa, ps, deltas = _inputs(min(100_000, max(sizes)), p, delta)
    for chunk, tol in [(c, rtol) for c in profile_chunks] + [(chunk_size, 1e-4)]:

        def run(chunk=chunk, tol=tol):
            return ff.sweep_alignment(
                D0, kappa, ps, deltas, rtol=tol, atol=tol * 1e-2, chunk_size=chunk, progress=False
            )

        run()
        t0 = time.perf_counter()
        res = run()
        wall = time.perf_counter() - t0
        row = {
            "chunk_size": chunk,
            "rtol": tol,
            "per_s": D0.size / wall,
            "mean_steps": float(res["num_steps"].mean()),
            "max_steps": int(res["num_steps"].max()),
        }
        results["profile"].append(row)
        print("profile", row)

    # The closed form without the sweep machinery: one jitted call on all n states.
    cf = jax.jit(lambda D0, kappa, delta: ff.alignment_time_closed_form(kappa, kappa, D0, p, delta))
    for n in sizes:
        D0, kappa, _, deltas = (jnp.asarray(a) for a in _inputs(n, p, delta))
        t0 = time.perf_counter()
        cf(D0, kappa, deltas).block_until_ready()
        first = time.perf_counter() - t0
        wall = _time_best(
            lambda D0=D0, kappa=kappa, deltas=deltas: cf(D0, kappa, deltas).block_until_ready(),
            repeats,
        )
        row = {"n": n, "compile_s": max(first - wall, 0.0), "run_s": wall, "per_s": n / wall}
        results["closed_form_bare"].append(row)
        print("closed_form_bare", row)

    results["best"] = {
        "ode_per_s": max(row["per_s"] for row in results["ode"]),
        "closed_form_sweep_per_s": max(r["per_s"] for r in results["closed_form_sweep"]),
        "closed_form_bare_per_s": max(r["per_s"] for r in results["closed_form_bare"]),
    }
    if n_euler:
        _reference(results, n_euler, p, delta)
    print("best", results["best"])
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    return results


def _reference(results, n_euler, p, delta):
    """The reference way at equal accuracy, and the ratio to the best ODE sweep."""
    D0, kappa, _, _ = _inputs(n_euler, p, delta, seed=2)
    D0 = np.where(np.abs(D0) < 2 * delta, 0.5, D0)  # states that must move
    exact = ff.alignment_time_exact(kappa, kappa, D0, p, delta)
    errs, per_step = {}, []
    for h in (1e-2, 1e-3):  # step in scaled time tau = p kappa t
        e = []
        for d, k, t_ex in zip(D0, kappa, exact, strict=True):
            t0 = time.perf_counter()
            t, steps = euler_alignment_time(d, k, p, delta, h / (p * k))
            per_step.append((time.perf_counter() - t0) / steps)
            e.append(abs(t / t_ex - 1))
        errs[h] = float(np.median(e))
    C = errs[1e-3] / 1e-3  # Euler: err ~ C h
    target = results["accuracy"]["ode_median_rel_err"]
    h_eq = target / C
    step_s = float(np.median(per_step))
    tau_mean = float(np.mean(p * kappa * exact))
    traj_s = tau_mean / h_eq * step_s
    results["reference_euler"] = {
        "median_rel_err_by_step": {str(h): v for h, v in errs.items()},
        "error_constant_C": C,
        "step_for_equal_accuracy": h_eq,
        "seconds_per_step": step_s,
        "mean_tau_delta": tau_mean,
        "seconds_per_trajectory_at_equal_accuracy": traj_s,
        "trajectories_per_s": 1 / traj_s,
        "method": "extrapolated: measured per-step cost x steps needed (err ~ C h fitted)",
    }
    results["ratio_ode_vs_reference"] = results["best"]["ode_per_s"] * traj_s
    print("reference", results["reference_euler"])
    print("ratio", results["ratio_ode_vs_reference"])


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
