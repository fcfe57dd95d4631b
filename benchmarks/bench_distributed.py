"""Benchmark: one sweep as a job over 1, 2 and 4 processes (JAX's distributed runtime).

Each process joins the job on the loopback address (CPU collectives), warms up (compiles), then
times `sweep_alignment` of `n` states (per-element solves, D0 uniform, kappa log-uniform,
p = 23); process 0 reports the wall time. Also the fixed cost of coordination: the same sweep
of a handful of states. On this machine the processes share its cores, so this measures the
overhead of the runtime, not the speed-up of more machines.

Run `python benchmarks/bench_distributed.py [--n 1000000]`; writes
`benchmarks/results/<host>_bench_distributed.json`.
"""

import json
import os
import platform
import socket
import subprocess
import sys
import textwrap

WORKER = textwrap.dedent(
    """
    import os, sys, time
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=" + sys.argv[5]
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from fourierflow import distributed
    import fourierflow as ff
    rank, size, port, n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    if size > 1:
        distributed.initialize(f"127.0.0.1:{port}", size, rank)
    rng = np.random.default_rng(0)
    D0, kappa = rng.uniform(-np.pi, np.pi, n), 10 ** rng.uniform(-4, -1, n)
    run = lambda m: ff.sweep_alignment(D0[:m], kappa[:m], 23, 0.01, shared_steps=False,
                                       chunk_size=4096, progress=False)
    run(8)  # compile
    t0 = time.perf_counter(); run(8); small = time.perf_counter() - t0
    t0 = time.perf_counter(); r = run(n); big = time.perf_counter() - t0
    if rank == 0:
        print("RESULT", small, big, r.n, len(jax.devices()))
    distributed.shutdown()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job(size: int, n: int, devices_per_process: int) -> dict:
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(r),
                str(size),
                port,
                str(n),
                str(devices_per_process),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for r in range(size)
    ]
    outs = [p.communicate() for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        if p.returncode:
            raise RuntimeError(err[-2000:])
    line = next(ln for ln in outs[0][0].splitlines() if ln.startswith("RESULT"))
    small, big, elements, devices = line.split()[1:]
    return dict(
        processes=size,
        devices=int(devices),
        coordination_s=float(small),
        sweep_s=float(big),
        elements_per_s=int(elements) / float(big),
    )


def main(n: int = 1_000_000, devices_per_process: int = 1, out: str = "benchmarks/results"):
    """Time the job at 1, 2 and 4 processes; efficiency = rate / (rate of 1 process)."""
    rows = [job(size, n, devices_per_process) for size in (1, 2, 4)]
    for row in rows:
        row["efficiency"] = row["elements_per_s"] / rows[0]["elements_per_s"]
        print(json.dumps(row))
    results = dict(
        n=n,
        load_average=os.getloadavg(),
        cores=os.cpu_count(),
        note="processes share this machine's cores: the overhead of the runtime, not a speed-up",
        rows=rows,
    )
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{platform.node() or 'host'}_bench_distributed.json"), "w") as f:
        json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
