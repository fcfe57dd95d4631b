"""Benchmark: reduced-ODE trajectories solved to their alignment event per second.

For 1e3 .. 1e6 initial states (D0 uniform, kappa log-uniform in [1e-4, 1e-1], p = 23,
delta = 1e-2, alpha0 = beta0 = kappa, float64):

- `ode`: `fourierflow.sweep_alignment(method="ode")`: Diffrax solves that end exactly at the
  alignment event (Tsit5, rtol 1e-6), each chunk (per device) one system with shared steps,
  elements put into chunks by their span in ell; compile time measured separately (first
  call on the same chunk shape) from run time.
- `closed_form`: `sweep_alignment(method="closed_form")` and the bare jitted
  `alignment_time_closed_form` (no sweep machinery).
- `paper_notebook`: the paper's own code (`bench_reference.py` extracts it from
  `--paper-repo`; skipped with a message when absent): the notebook
  `decouple_dynamics_simulation.ipynb`'s `simulate_gradient_flow` (explicit Euler on the
  neuron's theta, xi in PyTorch float64, one trajectory at a time), started from each state
  (amplitude kappa, 2 phi0 - psi0 = D0, its `"mean"` time) and stopped at the first step with
  |sin D| <= delta on the aligned side. Its Euler error is fitted (first order) at two step
  sizes in scaled time and the step for the ODE path's median error extrapolated: seconds per
  trajectory = measured seconds per step x steps needed (labelled extrapolated).
- `numpy_euler_stand_in`: NOT the paper's code: the same Euler method on (alpha, beta, D) in a
  NumPy scalar loop (about 1000x cheaper per step than the notebook's), kept as a lower bound
  on any Euler loop's cost; its step for equal accuracy is extrapolated the same way. Its
  per-step cost and the notebook's are measured in alternating blocks.

Accuracy of every path: relative error of t_delta against `alignment_time_exact` (scipy).
The machine is a shared 2-core CPU: timings are noisy (take the best of `repeats`).
Run: `python benchmarks/bench_sweeps.py` (writes benchmarks/results/<backend>_bench_sweeps.json).
"""

import json
import math
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from bench_reference import (  # noqa: E402
    DEFAULT_PAPER_REPO,
    NotebookSimulation,
    extract_paper_code,
    interleave,
    load,
    load_notebook_simulation,
    ratio,
    summary,
    timed,
)

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
    """The NumPy Euler stand-in (not the paper's code): fixed Euler steps of (alpha, beta, D),
    NumPy scalars, one trajectory, "sum" rate p. Returns (t_delta, steps)."""
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
    out: str = "benchmarks/results",
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
    paper_repo: str = DEFAULT_PAPER_REPO,
    n_notebook: int = 3,
):
    """Time `sweep_alignment` (both methods), the bare closed form and the reference's way.

    **Arguments:**

    - `out`: output folder; `sizes`: batch sizes; `ode_max_size`: the largest ODE batch.
    - `chunk_size`: the sweeps' chunk size (default: `alignment_chunk_size()` per device);
      `p`, `delta`, `rtol`, `atol`: the problem.
    - `repeats`: timed calls (best kept); `n_check`: states checked against scipy.
    - `n_euler`: trajectories of the NumPy Euler stand-in (0: skip it).
    - `paper_repo`: the paper's checkout; `n_notebook`: trajectories of its notebook's Euler
      simulation (0: skip it).
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
        "load_average_start": load(),
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
        _stand_in(results, n_euler, p, delta)
    if n_notebook:
        _paper_notebook(results, paper_repo, n_notebook, p, delta)
    print("best", results["best"])
    results["load_average_end"] = load()
    path = os.path.join(out, f"{jax.default_backend()}_bench_sweeps.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {path}")
    return results


def _stand_in(results, n_euler, p, delta):
    """The NumPy Euler stand-in at equal accuracy, and the ratio to the best ODE sweep."""
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
    results["numpy_euler_stand_in"] = {
        "what": "NOT the paper's code: Euler on (alpha, beta, D), NumPy scalars",
        "median_rel_err_by_step": {str(h): v for h, v in errs.items()},
        "error_constant_C": C,
        "step_for_equal_accuracy": h_eq,
        "seconds_per_step": step_s,
        "mean_tau_delta": tau_mean,
        "seconds_per_trajectory_at_equal_accuracy": traj_s,
        "trajectories_per_s": 1 / traj_s,
        "method": "extrapolated: measured per-step cost x steps needed (err ~ C h fitted)",
    }
    results["ratio_ode_vs_numpy_euler_stand_in"] = results["best"]["ode_per_s"] * traj_s
    print("NumPy Euler stand-in (not the paper's code)", results["numpy_euler_stand_in"])
    print("ratio ODE sweep / stand-in", results["ratio_ode_vs_numpy_euler_stand_in"])


def _paper_notebook(results, paper_repo, n, p, delta):
    """The paper's notebook simulation at equal accuracy (extrapolated from two steps), its
    per-step cost in blocks alternating with the stand-in's, and the ratios."""
    code = extract_paper_code(paper_repo)
    if code is None:
        results["paper_notebook"] = "not measured: the paper's code was not found"
        return
    ns = load_notebook_simulation(code)
    D0, kappa, _, _ = _inputs(n, p, delta, seed=3)
    D0 = np.where(np.abs(D0) < 2 * delta, 0.5, D0)
    kappa = np.clip(kappa, 1e-2, None)  # the notebook's loop is slow: its shorter trajectories
    errs, sims = {}, {}
    for h in (1e-2, 1e-3):  # step in scaled time tau = kappa t / p ("mean")
        e = []
        for i, (d, k) in enumerate(zip(D0, kappa, strict=True)):
            run = dict(p=p, init_k=2, lr=h * p / k, phi=d / 2, psi=0.0, amplitude=k, cell=None)
            sim = NotebookSimulation(ns, run, delta)
            t = sim.alignment_time(sim.simulate())
            e.append(abs(t / sim.t_exact - 1))
            sims[(h, i)] = sim
        errs[h] = float(np.median(e))
    C = errs[1e-3] / 1e-3
    target = results["accuracy"]["ode_median_rel_err"]
    h_eq = target / C
    # Per-step costs: the notebook's and the stand-in's, alternating, 300 steps each.
    sim = sims[(1e-2, 0)]
    steps = 300

    def notebook_block():
        wall, cpu, _ = timed(sim.simulate, steps)
        return steps, wall, cpu

    def stand_in_block():
        k = float(kappa[0])
        wall, cpu, _ = timed(
            euler_alignment_time, float(D0[0]), k, p, 1e-300, 1e-2 / (p * k), steps
        )
        return steps, wall, cpu

    rows = interleave({"notebook": notebook_block, "stand_in": stand_in_block}, 4)
    step_s = 1 / summary(rows["notebook"])["per_s_median"]
    tau = float(
        np.mean([s.t_exact * s.run["amplitude"] / p for (h, _), s in sims.items() if h == 1e-2])
    )
    traj_s = tau / h_eq * step_s
    results["paper_notebook"] = {
        "what": "the paper's notebook decouple_dynamics_simulation.ipynb: simulate_gradient_flow",
        "commit": code["commit"],
        "median_rel_err_by_step": {str(h): v for h, v in errs.items()},
        "error_constant_C": C,
        "step_for_equal_accuracy": h_eq,
        "seconds_per_step": step_s,
        "per_step_vs_stand_in": ratio(rows["notebook"], rows["stand_in"]),
        "mean_tau_delta": tau,
        "seconds_per_trajectory_at_equal_accuracy": traj_s,
        "method": "extrapolated: measured per-step cost x steps needed (err ~ C h fitted)",
        "load": load(),
    }
    results["ratio_ode_vs_paper_notebook"] = results["best"]["ode_per_s"] * traj_s
    print("paper notebook", results["paper_notebook"])
    print("ratio ODE sweep / paper notebook (extrapolated)", results["ratio_ode_vs_paper_notebook"])


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
