"""Fault tests of training checkpoints: killed runs, damaged files, foreign checkpoints, two
runs in one folder. Budget: < 60 s on two cores.

The runs are tiny (p=7, width 8, 300 steps), so writing checkpoints is most of a run's time.
The training subprocesses announce every file write on stdout and then hold its `.tmp` file a
little (or, for one chosen file, until killed), so that a kill lands inside a write or between
writes at a moment the test chooses or draws. Every run is compared bit for bit with an
uninterrupted one.
"""

import dataclasses
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import ANNOUNCED_WRITES

import fourierflow as ff

SEED = 5
CONFIG = dict(p=7, width=8, steps=300, log_every=10, lr=1e-2)
CHECKPOINT_EVERY = 30  # ten checkpoints, 30 file writes
SNAPSHOT_EVERY = 30
WRITE_DELAY = 0.05  # seconds each file of a checkpoint stays a `.tmp` file in the subprocess

# The training subprocess: resume into `folder` and run to the end, then save the outcome.
DRIVER = (
    ANNOUNCED_WRITES
    + """
import equinox as eqx
config = _configs.get_config("grokking", **args["config"])
r = _configs.run_config(config, seed=args["seed"], checkpoint_dir=args["folder"],
    checkpoint_every=args["every"], snapshot_every=args["every"], resume=True, progress=False)
eqx.tree_serialise_leaves(args["out"], (r.net, r.opt_state, r.history, r.snapshots))
"""
)


def _config(**overrides):
    return ff.get_config("grokking", **dict(CONFIG, **overrides))


def _serialised(result) -> bytes:
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(
        buffer, (result.net, result.opt_state, result.history, result.snapshots)
    )
    return buffer.getvalue()


def _start(folder: Path, out: Path, cache: Path, hold: str | None = None) -> subprocess.Popen:
    """A training subprocess; it stops (until killed) inside the write of the file `hold`."""
    args = dict(
        config=CONFIG,
        seed=SEED,
        folder=str(folder),
        every=CHECKPOINT_EVERY,
        delay=WRITE_DELAY,
        hold=hold,
        out=str(out),
    )
    # A compilation cache shared by the subprocesses: each one after the first loads its
    # executables instead of compiling them (about half of its time).
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        JAX_COMPILATION_CACHE_DIR=str(cache),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1",
    )
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, json.dumps(args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_writes(proc, count: int) -> str:
    """Read the subprocess's output until its `count`-th file write; return that file's name."""
    lines, written = [], []
    while len(written) < count:
        line = proc.stdout.readline()
        if not line:
            proc.wait()
            pytest.fail(f"the training process ended before write {count}:\n{''.join(lines)}")
        lines.append(line)
        if line.startswith("writing "):
            written.append(line.split()[1])
    return written[-1]


def _kill(proc) -> None:
    assert proc.poll() is None, "the process ended before it was killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run with checkpoints (in this process): `(result, folder)`."""
    folder = tmp_path_factory.mktemp("reference")
    result = ff.run_config(
        _config(),
        seed=SEED,
        checkpoint_dir=folder,
        checkpoint_every=CHECKPOINT_EVERY,
        snapshot_every=SNAPSHOT_EVERY,
        progress=False,
    )
    return result, folder


def test_killed_runs_resume_bit_identically_and_hold_their_folder(tmp_path, reference):
    ref, _ = reference
    folder, out, cache = tmp_path / "run", tmp_path / "out.eqx", tmp_path / "cache"
    # Killed inside the write of its first checkpoint's JSON: the .eqx and .npz of step 30
    # are there without their JSON, and the temporary file of the JSON is left behind.
    proc = _start(folder, out, cache, hold="step_000000030.json")
    assert _wait_for_writes(proc, 3) == "step_000000030.json"
    _kill(proc)
    names = {p.name for p in folder.iterdir()}
    assert {"step_000000030.eqx", "step_000000030.npz"} <= names
    assert "step_000000030.json" not in names
    assert any(n.startswith(".step_000000030.json.") and n.endswith(".tmp") for n in names)
    # Then killed at random moments: after a random number of file writes (of any file of any
    # checkpoint) and a random delay of up to one checkpoint's writing time. The draws are
    # seeded (FOURIERFLOW_FAULT_SEED explores others) so that a failure can be replayed.
    rng = random.Random(int(os.environ.get("FOURIERFLOW_FAULT_SEED", "0")))
    for kill in range(2):
        proc = _start(folder, out, cache)
        _wait_for_writes(proc, rng.randint(1, 6))
        if kill == 0:
            # The folder is held: a second run into it is refused at once, naming the holder.
            match = rf"in use by another fourierflow run \(pid {proc.pid} .*choose another folder"
            with pytest.raises(RuntimeError, match=match):
                ff.run_config(_config(), seed=SEED, checkpoint_dir=folder, resume=True)
        time.sleep(rng.uniform(0, 3 * WRITE_DELAY))
        _kill(proc)
    proc = _start(folder, out, cache)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    assert out.read_bytes() == _serialised(ref)  # net, optimizer state, history, snapshots
    # The two newest checkpoints remain; the incomplete ones and temporary files are gone.
    assert sorted(p.name for p in folder.iterdir()) == [".fourierflow.lock"] + [
        f"step_000000{s}.{e}" for s in (270, 300) for e in ("eqx", "json", "npz")
    ]


def _same(a, b) -> bool:
    return all(
        np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    "damage, warning",
    [
        (lambda f: _flip_byte(f / "step_000000300.eqx"), r"step_000000300\.eqx is damaged"),
        (lambda f: _truncate(f / "step_000000300.npz"), r"step_000000300\.npz is damaged"),
        (
            lambda f: (f / "step_000000300.json").unlink(),
            r"incomplete checkpoint .*step_000000300 .*without step_000000300\.json",
        ),
    ],
    ids=["flipped-eqx", "truncated-npz", "deleted-json"],
)
def test_damaged_checkpoint_is_skipped_by_name(tmp_path, reference, damage, warning):
    ref, source = reference
    folder = tmp_path / "run"
    shutil.copytree(source, folder)
    damage(folder)
    # Resuming to step 270 from the one older checkpoint needs no training step: the state
    # returned is the checkpoint's, to be compared with the uninterrupted run at step 270.
    with pytest.warns(UserWarning, match=warning):
        r = ff.run_config(
            _config(steps=270),
            seed=SEED,
            checkpoint_dir=folder,
            resume=True,
            snapshot_every=SNAPSHOT_EVERY,
            progress=False,
        )
    assert r.step == 270
    at = lambda tree, n: jax.tree.map(lambda a: a[:n], tree)  # noqa: E731
    assert _same(r.history, at(ref.history, 28))
    assert _same(r.snapshots, at(ref.snapshots, 10))
    assert _same(r.net, jax.tree.map(lambda a: a[9], ref.snapshots))


def test_without_an_intact_checkpoint_training_starts_again(tmp_path, reference):
    ref, source = reference
    folder = tmp_path / "run"
    shutil.copytree(source, folder)
    _flip_byte(folder / "step_000000300.eqx")
    (folder / "step_000000270.json").unlink()
    with pytest.warns(UserWarning) as record:
        r = ff.run_config(
            _config(steps=30), seed=SEED, checkpoint_dir=folder, resume=True, progress=False
        )
    messages = [str(w.message) for w in record]
    assert any("step_000000300.eqx is damaged" in m for m in messages)
    assert any("incomplete checkpoint" in m and "step_000000270" in m for m in messages)
    assert any("no intact checkpoint" in m and "from `net0`" in m for m in messages)
    assert _same(r.history, jax.tree.map(lambda a: a[:4], ref.history))
    # The new checkpoint replaced the damaged ones.
    assert sorted(p.name for p in folder.glob("step_*")) == [
        f"step_000000030.{e}" for e in ("eqx", "json", "npz")
    ]


def test_checkpoint_of_another_run_is_refused_by_name(reference):
    _, folder = reference
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    meta = json.loads((folder / "step_000000300.json").read_text())
    assert meta["fingerprint"]["run"]["seed"] == SEED  # the metadata names the right seed
    assert meta["fingerprint"]["run"]["config"] == {
        k: v for k, v in dataclasses.asdict(_config()).items() if k != "steps"
    }
    newest = r"step_000000300\.json: it belongs to another run"
    with pytest.raises(ValueError, match=newest + r".*`run\.seed` \(checkpoint: 5, this run: 6\)"):
        ff.run_config(_config(), seed=SEED + 1, checkpoint_dir=folder, resume=True)
    with pytest.raises(ValueError, match=newest + r".*`run\.config\.optimizer`.*another optimizer"):
        ff.run_config(_config(optimizer="sgd"), seed=SEED, checkpoint_dir=folder, resume=True)
    # `train` itself recognises another initial network and another optimizer, whatever the
    # caller's facts say.
    config = _config()
    net0, split = ff.config_setup(config, SEED)
    other_net0, _ = ff.config_setup(config, SEED + 1)
    kw = dict(
        steps=300,
        split=split,
        log_every=10,
        checkpoint_dir=folder,
        resume=True,
        fingerprint=meta["fingerprint"]["run"],
    )
    only = newest + r"; its fingerprint differs in "
    with pytest.raises(
        ValueError, match=only + r"`net0` \(another initial network[^`]*\)\. Resume"
    ):
        ff.train(other_net0, config.make_optimizer(), **kw)
    with pytest.raises(ValueError, match=only + r"`optimizer_structure` \(another optimizer"):
        ff.train(net0, optax.sgd(1e-2, momentum=0.9), **kw)
    # Same structure, other initial values (here: the first moment kept in float32).
    adamw32 = optax.adamw(1e-2, b1=0.9, b2=0.98, weight_decay=2.0, mu_dtype=jnp.float32)
    with pytest.raises(
        ValueError, match=only + r"`optimizer_init` \(another optimizer[^`]*\)\. Resume"
    ):
        ff.train(net0, adamw32, **kw)
    # Nothing in the folder was touched.
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
