"""Tests of the output helpers: atomic writes, JSON without inf/nan strings, the folder lock."""

import json
import math
import os
import re
import stat
import threading

import jax.numpy as jnp
import numpy as np
import pytest

import fourierflow as ff


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_get_the_mode_of_a_plain_open(tmp_path, umask):
    old = os.umask(umask)
    try:
        with open(tmp_path / "reference.txt", "w") as fh:  # what the user would expect
            fh.write("x")
        ff.write_atomic(tmp_path / "atomic.bin", b"x")
        ff.write_atomic(tmp_path / "written.bin", lambda t: t.write_bytes(b"x"))
        ff.write_json(tmp_path / "out.json", {"a": 1})
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    assert _mode(tmp_path / "reference.txt") == expected
    for name in ("atomic.bin", "written.bin", "out.json"):
        assert _mode(tmp_path / name) == expected, name
    # As `open(path, "w")` on an existing file, a rewrite keeps the file's mode.
    os.chmod(tmp_path / "out.json", 0o640)
    ff.write_json(tmp_path / "out.json", {"a": 2})
    assert _mode(tmp_path / "out.json") == 0o640
    assert json.loads((tmp_path / "out.json").read_text()) == {"a": 2}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def fail(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        ff.write_atomic(target, fail)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_non_finite_floats_become_null(tmp_path):
    nan, inf = float("nan"), float("inf")
    obj = {
        "list": [1.5, nan, inf, -inf],
        "numpy_scalar": np.float64(nan),
        "float32": np.float32(-inf),
        "array": jnp.asarray([[nan, 2.0], [3.0, inf]]),
        "nested": {"x": (nan, 0.25)},
        "fine": 0.1,
    }
    path = ff.write_json(tmp_path / "r.json", obj)
    text = path.read_text()
    assert not re.search(r"nan|inf", text, re.IGNORECASE)  # nor NaN/Infinity (invalid JSON)
    loaded = json.loads(text)
    assert loaded == {
        "list": [1.5, None, None, None],
        "numpy_scalar": None,
        "float32": None,
        "array": [[None, 2.0], [3.0, None]],
        "nested": {"x": [None, 0.25]},
        "fine": 0.1,
    }

    def strings(v):
        if isinstance(v, dict):
            return [s for x in v.values() for s in strings(x)]
        if isinstance(v, list):
            return [s for x in v for s in strings(x)]
        return [v] if isinstance(v, str) else []

    assert strings(loaded) == []
    # Read back as floats, null is NaN again: the round trip keeps every number.
    back = np.asarray(loaded["array"], dtype=float)
    np.testing.assert_array_equal(np.isnan(back), [[True, False], [False, True]])
    assert back[0, 1] == 2.0 and math.isnan(np.asarray(loaded["list"], dtype=float)[1])


def test_folder_lock_excludes_a_second_holder(tmp_path):
    folder = tmp_path / "run"
    with ff.lock_folder(folder) as held:
        assert held == folder
        holder = json.loads((folder / ".fourierflow.lock").read_text())
        assert holder["pid"] == os.getpid()
        message = (
            rf"{re.escape(str(folder))} is in use by another fourierflow run \(pid {os.getpid()}"
        )
        errors = []

        def other_thread():
            try:
                with ff.lock_folder(folder):
                    pass
            except RuntimeError as error:
                errors.append(str(error))

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert len(errors) == 1 and re.match(message + r".*choose another folder", errors[0])
        # The holder itself may take it again (a command line around the sweep it runs).
        with ff.lock_folder(folder):
            assert json.loads((folder / ".fourierflow.lock").read_text())["pid"] == os.getpid()
    # Released on exit: the folder can be taken again, and a lock file whose holder is gone
    # (here: an invented dead pid) does not block; only the kernel's flock counts.
    (folder / ".fourierflow.lock").write_text(json.dumps({"pid": 999_999_999}))
    with ff.lock_folder(folder):
        assert json.loads((folder / ".fourierflow.lock").read_text())["pid"] == os.getpid()
    assert (folder / ".fourierflow.lock").read_text() == ""
