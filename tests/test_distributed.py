"""Sweeps and ensembles as one job over several processes (JAX's distributed runtime on the
loopback address, CPU collectives, two emulated devices per process): equal, element for
element, to a single process; a killed process fails the job within its heartbeat timeout,
and the job resumes from what it streamed to disk."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fourierflow as ff

N_ALIGN = 48

WORKER = textwrap.dedent(
    """
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax
    jax.config.update("jax_enable_x64", True)
    from fourierflow import distributed
    rank, size, port, task, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    distributed.initialize(f"127.0.0.1:{{port}}", size, rank, heartbeat_timeout=5)
    sys.path.insert(0, {tests!r})
    import test_distributed as t
    result = t.TASKS[task](None if out == "-" else out, rank)
    if distributed.is_writer() and result is not None:
        print("RESULT " + json.dumps(result))
    distributed.shutdown()
    """
)


def _alignment(out=None, rank=0, resume=False, chunk_size=8):
    rng = np.random.default_rng(0)
    D0, kappa = rng.uniform(-np.pi, np.pi, N_ALIGN), 10 ** rng.uniform(-3, -1, N_ALIGN)
    D0[5] = np.pi
    r = ff.sweep_alignment(
        D0, kappa, 11, 0.01, shared_steps=False, chunk_size=chunk_size, progress=False,
        out=out, resume=resume,
    )  # fmt: skip
    return {"t": r["t_delta"].tolist(), "outcome": ff.outcome_names(r.outcome).tolist()}


def _ensemble(out=None, rank=0):
    import jax.random as jr

    r = ff.solve_ensemble(
        init=lambda x: ff.init_single_frequency(x["key"], 7, 2, 0.05),
        inputs={"key": jr.split(jr.key(1), 8)},
        event=ff.MagnitudeAbove(0.2),
        progress=False,
    )
    return {"t": r["t_stop"].tolist(), "beta": r["stat/beta"].ravel().tolist()}


def _streamed(out, rank):
    """A long streamed sweep (for the kill test): many small chunks."""
    return _alignment(out, rank, resume=os.environ.get("RESUME") == "1", chunk_size=4)


TASKS = {"alignment": _alignment, "ensemble": _ensemble, "streamed": _streamed}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(size, task, out="-", env=None):
    code = WORKER.format(tests=os.path.dirname(__file__))
    port = str(_free_port())
    env = dict(os.environ, **(env or {}))
    return [
        subprocess.Popen(
            [sys.executable, "-c", code, str(rank), str(size), port, task, str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for rank in range(size)
    ]


def _result(procs, timeout=600):
    outs = [p.communicate(timeout=timeout) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    line = next(ln for ln in outs[0][0].splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


@pytest.mark.parametrize("size", [2, 4])
def test_processes_compute_what_one_process_computes(size):
    tasks = ("alignment", "ensemble") if size == 2 else ("alignment",)
    one = {task: TASKS[task]() for task in tasks}
    for task in tasks:
        many = _result(_launch(size, task))
        for key in one[task]:
            # Elements are solved alone, so where they are computed does not matter: bitwise
            # for the per-element alignment solves, to rounding for the exact-flow members
            # (vectorised over another number of members per device, which changes the order
            # of their sums by an ulp; the adaptive solves carry that to ~1e-12 relative).
            if task == "alignment":
                assert many[key] == one[task][key], (task, key)
            else:
                np.testing.assert_allclose(many[key], one[task][key], rtol=1e-10, atol=1e-15)


def test_a_killed_process_fails_the_job_which_then_resumes(tmp_path):
    out = tmp_path / "sweep"
    procs = _launch(2, "streamed", out)
    chunks = out / "chunks"
    deadline = time.time() + 300
    while time.time() < deadline and not (
        chunks.exists() and len(list(chunks.glob("*.json"))) >= 2
    ):
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    assert chunks.exists() and list(chunks.glob("*.json")), "the job streamed nothing"
    t_kill = time.time()
    procs[1].send_signal(signal.SIGKILL)
    procs[0].wait(timeout=120)
    waited = time.time() - t_kill
    err = procs[0].stderr.read()
    assert procs[0].returncode != 0, "the surviving process must fail, not hang or succeed"
    assert waited < 60, f"detected after {waited:.0f} s"
    state = json.loads((out / "sweep.json").read_text())
    assert state["state"] in ("running", "failed"), err[-2000:]
    resumed = _result(_launch(2, "streamed", out, env={"RESUME": "1"}))
    assert resumed == _alignment(chunk_size=4)
    assert json.loads((out / "sweep.json").read_text())["state"] == "complete"


def test_the_command_line_runs_one_job_over_two_processes(tmp_path):
    args = ["sweep", "--n", "40", "--p", "11", "--chunk-size", "8", "--seed", "2"]
    port = str(_free_port())
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fourierflow",
                *args,
                "--out",
                str(tmp_path / "many"),
                "--coordinator",
                f"127.0.0.1:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    from fourierflow import cli

    cli.main(args + ["--out", str(tmp_path / "one")])
    many, one = (ff.load_sweep(tmp_path / f / "sweep.npz") for f in ("many", "one"))
    # The command line solves with shared steps per device block (4 devices here, 1 there):
    # the results agree to the solver's tolerance.
    np.testing.assert_allclose(many["t_delta"], one["t_delta"], rtol=1e-6)
    assert ff.outcome_names(many.outcome).tolist() == ff.outcome_names(one.outcome).tolist()
    assert (tmp_path / "many" / "metadata.json").exists()
