"""Profile the host side of `sweep_alignment` (where the time goes besides the solves).

Run `python benchmarks/profile_sweep.py [n]`: prints the cProfile top entries by total time.
"""

import cProfile
import pstats
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import fourierflow as ff  # noqa: E402

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
rng = np.random.default_rng(0)
D0, kappa = rng.uniform(-np.pi, np.pi, n), 10 ** rng.uniform(-4, -1, n)


def run():
    return ff.sweep_alignment(D0, kappa, 23, 0.01, progress=False)


run()
t0 = time.perf_counter()
run()
print(f"sweep_alignment n={n}: {time.perf_counter() - t0:.3f} s on {jax.devices()[0]}")
cProfile.run("run()", "/tmp/sweep.prof")
pstats.Stats("/tmp/sweep.prof").sort_stats("tottime").print_stats(18)
