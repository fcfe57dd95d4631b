"""Benchmark: the persistent compilation cache, first solve of a new process with and without.

Runs the same small program (an exact-flow solve to the end of the initial stage and an
alignment sweep, p = 23) in fresh processes: without the cache, then twice with an empty cache
folder (the first fills it, the second reads it). Prints and writes the wall times.

Run `python benchmarks/bench_cache.py`; writes `benchmarks/results/<host>_bench_cache.json`.
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import time

PROGRAM = """
import time
t0 = time.perf_counter()
import jax, numpy as np, jax.random as jr
jax.config.update("jax_enable_x64", True)
import fourierflow as ff
ff.enable_compilation_cache()
t_import = time.perf_counter() - t0
net = ff.init_single_frequency(jr.key(0), 23, 64, 0.02)
t1 = time.perf_counter()
sol = ff.solve_exact(net, event=ff.MagnitudeAbove(0.2))
float(sol.t_stop)
t_solve = time.perf_counter() - t1
t2 = time.perf_counter()
ff.sweep_alignment(np.linspace(-3, 3, 1000), 0.02, 23, 0.01, progress=False)
t_sweep = time.perf_counter() - t2
print(t_import, t_solve, t_sweep)
"""


def run(cache: str) -> list[float]:
    env = dict(os.environ, FOURIERFLOW_CACHE_DIR=cache)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True)
    total = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr[-2000:]
    return [total] + [float(x) for x in out.stdout.split()]


def main(out: str = "benchmarks/results") -> dict:
    folder = tempfile.mkdtemp(prefix="ff-cache-")
    rows = {"off": run("off"), "cold cache": run(folder), "warm cache": run(folder)}
    names = ("process_s", "import_s", "first_exact_solve_s", "first_alignment_sweep_s")
    results = dict(
        load_average=os.getloadavg(),
        runs={k: dict(zip(names, v, strict=True)) for k, v in rows.items()},
    )
    for k, v in results["runs"].items():
        print(f"{k:12s} " + ", ".join(f"{n} {x:.2f}" for n, x in v.items()))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{platform.node() or 'host'}_bench_cache.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
