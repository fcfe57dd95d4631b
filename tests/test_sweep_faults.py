"""Sweeps that survive faults: killed, damaged, concurrent and failing runs.

A sweep streams its results to its folder chunk by chunk; these tests kill it (SIGKILL, at
random moments and inside a write), damage its files, start a second writer and fill the disk,
and check that resuming gives exactly the result of an uninterrupted run.
"""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fourierflow as ff

N, CHUNK = 600, 40  # 15 chunks of the per-element ODE: a few seconds in all


def _inputs():
    rng = np.random.default_rng(0)
    return rng.uniform(-np.pi, np.pi, N), 10 ** rng.uniform(-3, -1, N)


def _run(out, resume=False, progress=False):
    D0, kappa = _inputs()
    return ff.sweep_alignment(
        D0, kappa, 11, 0.01, chunk_size=CHUNK, shared_steps=False, progress=progress,
        out=out, resume=resume,
    )  # fmt: skip


SCRIPT = textwrap.dedent(
    """
    import sys, jax
    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, {tests!r})
    from test_sweep_faults import _run
    _run(sys.argv[1], resume=len(sys.argv) > 2)
    """
)


def _start(out, *extra):
    code = SCRIPT.format(tests=os.path.dirname(__file__))
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(out.parent / "jax-cache"))
    return subprocess.Popen([sys.executable, "-c", code, str(out), *extra], env=env)


def _same(a, b):
    assert np.array_equal(a.index, b.index)
    assert ff.outcome_names(a.outcome).tolist() == ff.outcome_names(b.outcome).tolist()
    for name in a.names:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert a.metadata["identity"] == b.metadata["identity"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _run(None)


def test_killed_sweeps_resume_to_the_uninterrupted_result(tmp_path, reference):
    seed = int(os.environ.get("FOURIERFLOW_FAULT_SEED", "0"))
    rng = random.Random(seed)
    out = tmp_path / "sweep"
    chunks = out / "chunks"
    killed = 0
    for kills in range(3):
        proc = _start(out, *(["resume"] if kills else []))
        # Kill after a random number of finished chunks, or the moment a write is under way.
        target = rng.randint(1 + 4 * kills, 4 + 4 * kills)
        while proc.poll() is None:
            done = len(list(chunks.glob("*.json"))) if chunks.exists() else 0
            writing = chunks.exists() and any(chunks.glob(".*.tmp"))
            if done >= target or (kills == 2 and writing):
                time.sleep(rng.uniform(0, 0.05))
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        killed += proc.wait() == -signal.SIGKILL
        state = json.loads((out / "sweep.json").read_text())
        assert state["state"] in ("running", "complete")
    assert killed >= 2, "the kills must land while the sweep runs"
    result = _run(out, resume=True)
    _same(result, reference)
    assert json.loads((out / "sweep.json").read_text())["state"] == "complete"
    assert not chunks.exists() and not list(out.glob(".*.tmp"))
    _same(ff.load_sweep(out / "sweep.npz"), reference)


def test_damaged_chunks_are_recomputed(tmp_path, reference, monkeypatch):
    out = tmp_path / "sweep"
    # Stop the sweep after six chunks (a failure of the 7th write), then damage two of them.
    from fourierflow import _sweep_store

    saved = _sweep_store.ChunkStore.save

    def save(self, c, outputs, outcome):
        if c == 6:
            raise OSError(28, "No space left on device")
        saved(self, c, outputs, outcome)

    monkeypatch.setattr(_sweep_store.ChunkStore, "save", save)
    with pytest.raises(OSError, match="No space left"):
        _run(out)
    state = json.loads((out / "sweep.json").read_text())
    assert state["state"] == "failed" and "No space left" in state["why"]
    monkeypatch.setattr(_sweep_store.ChunkStore, "save", saved)
    chunk = out / "chunks" / "000002.npz"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    (out / "chunks" / "000004.npz").write_bytes(b"truncated")
    store = _sweep_store.ChunkStore(out, {})
    assert store.load(2) is None and store.load(4) is None and store.load(3) is not None
    _same(_run(out, resume=True), reference)


def test_foreign_and_concurrent_sweeps_are_refused(tmp_path, reference):
    out = tmp_path / "sweep"
    _run(out)
    with pytest.raises(ValueError, match="already holds a sweep"):
        _run(out)
    D0, kappa = _inputs()
    with pytest.raises(ValueError, match=r"another sweep; differing: .*inputs_sha256\.kappa"):
        ff.sweep_alignment(
            D0, 2 * kappa, 11, 0.01, chunk_size=CHUNK, shared_steps=False, progress=False,
            out=out, resume=True,
        )  # fmt: skip
    # A second process while the first runs.
    busy = tmp_path / "busy"
    proc = _start(busy)
    try:
        while not (busy / "sweep.json").exists() and proc.poll() is None:
            time.sleep(0.01)
        with pytest.raises(RuntimeError, match="in use by another fourierflow run"):
            _run(busy, resume=True)
    finally:
        proc.kill()
        proc.wait()
