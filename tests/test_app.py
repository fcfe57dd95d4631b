"""The explorer's computations, without a browser: figures and their exports, argument checks,
sweep files and checkpoint folders (read back against the library)."""

import json
import subprocess
import sys

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

import fourierflow as ff
from fourierflow.app import _dynamics, _figure, _runs, _sweeps


def _small_view():
    x = np.linspace(0, 1, 5)
    return _figure.View(
        title="a test view",
        panels=[
            _figure.Panel("lines", "x", "y", [_figure.Line(x, x**2, "square", group="a")],
                          vlines=[(0.5, "half", "#000", "dash")]),
            _figure.Panel("bars", "k", "n", [_figure.Bars([1, 2], [3, 4], "counts")], ylog=True),
            _figure.Panel("map", "x", "y", [_figure.Heatmap([0, 1], [0, 1], [[0, 1], [1, 0]],
                                                            "classes",
                                                            categories=[("a", "#f00"),
                                                                        ("b", "#00f")])]),
        ],
        numbers={"answer": 42.0, "never": float("inf")},
        meta={"view": "test"},
    )  # fmt: skip


def test_view_exports_figure_and_numbers(tmp_path):
    view = _small_view()
    paths = _figure.export(view, tmp_path, "view")
    assert sorted(p.suffix for p in paths) == [".csv", ".json", ".png", ".svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in paths[1].read_bytes()[:500]
    doc = json.loads((tmp_path / "view.json").read_text())
    assert doc["numbers"] == {"answer": 42.0, "never": None}  # JSON has no inf
    assert doc["series"][0]["y"] == pytest.approx(list(np.linspace(0, 1, 5) ** 2))
    rows = (tmp_path / "view.csv").read_text().splitlines()
    assert rows[0] == "panel,trace,x,y,z"
    assert len(rows) == 1 + 5 + 2 + 4  # points of the line, the bars and the map
    fig = _figure.plotly_dict(view)
    assert fig["layout"]["meta"] == {"view": "test"}
    assert [t["type"] for t in fig["data"]] == ["scatter", "bar", "heatmap"]
    assert fig["layout"]["yaxis2"]["type"] == "log"


@pytest.mark.parametrize(
    "values, needle",
    [
        (dict(p=24), "odd"),
        (dict(p=2), "odd"),
        (dict(kappa=-0.1), "kappa"),
        (dict(kappa=float("nan")), "kappa"),
        (dict(width=0), "width"),
        (dict(neuron=64), "neuron"),
        (dict(delta=1.5), "delta"),
        (dict(init="uniform"), "init"),
        (dict(p="abc"), "p"),
        (dict(init="Gaussian", set_phases=True), "single-frequency"),
    ],
)
def test_dynamics_parameters_are_checked_before_any_solve(values, needle):
    with pytest.raises(ValueError, match=needle):
        _dynamics.DynamicsParams.checked(**values)


def test_set_phases_gives_the_neuron_its_phases():
    params = _dynamics.DynamicsParams.checked(p=11, width=3, neuron=1, phi0=0.4, psi0=-1.1)
    s = ff.neuron_spectrum(_dynamics.initial_network(params))
    k = int(jnp.argmax(s["beta"][1]))
    assert float(s["phi"][1, k]) == pytest.approx(0.4, abs=1e-12)
    assert float(s["psi"][1, k]) == pytest.approx(-1.1, abs=1e-12)
    assert float(s["alpha"][1, k]) == pytest.approx(0.02, rel=1e-12)
    assert float(jnp.sum(s["alpha"][1] > 1e-12)) == 1  # still a single frequency


def test_sweep_files_are_checked(tmp_path):
    bad = tmp_path / "notes.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable fourierflow sweep file"):
        _sweeps.load_result(bad)
    with pytest.raises(ValueError, match="no such file"):
        _sweeps.load_result(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="path"):
        _sweeps.load_result("  ")
    with pytest.raises(ValueError, match="n"):
        _sweeps.check_sweep(0, 23, 0.01, 1e-3, 1e-1, "ode", 0)


def test_alignment_sweep_view_against_the_closed_form(tmp_path):
    D0 = np.array([0.3, -1.0, 2.0, np.pi])
    result = ff.sweep_alignment(D0, 0.01, 23, 0.05, method="closed_form", progress=False)
    path = result.save(tmp_path / "sweep.npz")
    loaded = _sweeps.load_result(path)
    view = _sweeps.sweep_view(loaded)
    assert view.numbers["outcomes"] == {"event": 3, "never_aligns": 1}
    collapse = view.panels[1].traces[0]  # the "event" points: tau against D0
    want = 23 * 0.01 * ff.alignment_time_exact(0.01, 0.01, np.asarray(collapse.x), 23, 0.05)
    np.testing.assert_allclose(collapse.y, want, rtol=1e-7)
    only = _sweeps.sweep_view(loaded, ["never_aligns"])
    assert only.meta["n_shown"] == 1


def _train(tmp_path, snapshot_every):
    net0 = ff.init_gaussian(jr.key(1), 7, 6, 1.0, "relu")
    split = ff.random_split(jr.key(2), 7, 0.6)
    return ff.train(
        net0, optax.adam(1e-2), steps=40, split=split, log_every=10,
        checkpoint_dir=tmp_path, checkpoint_every=10, snapshot_every=snapshot_every,
        progress=False,
    ), split  # fmt: skip


def test_checkpoint_folder_is_read_back(tmp_path):
    result, split = _train(tmp_path / "a", snapshot_every=20)
    run = _runs.read_run(tmp_path / "a")
    assert run.step == 40 and list(run.snap_steps) == [0, 20, 40]
    np.testing.assert_array_equal(run.history["step"], result.history.step)
    np.testing.assert_allclose(run.history["test_accuracy"], result.history.test_accuracy)
    np.testing.assert_allclose(run.snap_theta[-1], result.net.theta)
    assert run.train is None  # a plain `train` run does not record its split
    view = _runs.snapshot_view(run, 2, neuron=1, x=3, y=5)
    want = np.asarray(result.net.logits(jnp.asarray(3), jnp.asarray(5)))
    np.testing.assert_allclose(view.numbers["pair"]["logits"], want, rtol=1e-12)
    assert view.meta["predicted"] == int(np.argmax(want))
    assert _runs.history_view(run).meta["step"] == 40


def test_checkpoint_without_snapshots_reads_the_final_weights(tmp_path):
    result, _ = _train(tmp_path / "b", snapshot_every=None)
    run = _runs.read_run(tmp_path / "b")
    assert list(run.snap_steps) == [40]
    np.testing.assert_array_equal(run.snap_theta[0], np.asarray(result.net.theta))
    np.testing.assert_array_equal(run.snap_xi[0], np.asarray(result.net.xi))


def test_run_config_checkpoints_rebuild_the_split(tmp_path):
    ff.run_config("grokking", 3, p=7, width=8, steps=20, log_every=10, checkpoint_dir=tmp_path,
                  snapshot_every=10, progress=False)  # fmt: skip
    _, split = ff.config_setup(ff.get_config("grokking", p=7, width=8, steps=20, log_every=10), 3)
    run = _runs.read_run(tmp_path)
    np.testing.assert_array_equal(run.train, np.asarray(split.train))
    view = _runs.snapshot_view(run, 1, 0, 1, 2)
    assert set(view.numbers["class_accuracy"]) == {"common", "rare", "mirror_covered", "unseen"}


def test_damaged_or_missing_checkpoints_are_messages(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        _runs.read_run(tmp_path / "nothing")
    with pytest.raises(ValueError, match="holds no checkpoint"):
        _runs.read_run(tmp_path)
    _train(tmp_path / "c", snapshot_every=20)
    npz = sorted((tmp_path / "c").glob("step_*.npz"))[-1]
    npz.write_bytes(npz.read_bytes()[:-10])
    run = _runs.read_run(tmp_path / "c")  # the older checkpoint, with a note
    assert run.step == 30 and "damaged" in " ".join(run.notes)


def test_explore_command_usage_errors(tmp_path):
    code = "from fourierflow.cli import main; main(['explore', '--port', '0'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "port" in out.stderr and "Traceback" not in out.stderr
