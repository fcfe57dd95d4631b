"""SweepResult as data: named dimensions, tables, selections, files."""

import numpy as np

import fourierflow as ff


def _lottery():
    D0 = np.random.default_rng(0).uniform(0, 2 * np.pi, (6, 3))
    return ff.sweep_lottery(D0, 7, [0.0, 1.0, 2.0], kappa=0.02, progress=False)


def test_xarray_and_pandas_views_have_named_dimensions_and_outcome_names(tmp_path):
    result = _lottery()
    ds = result.to_xarray()
    assert ds["beta"].dims == ("element", "frequency", "time")
    assert ds["D0"].dims == ("element", "frequency")
    np.testing.assert_array_equal(ds["beta"].values, result["beta"])
    assert list(ds["outcome"].values) == ff.outcome_names(result.outcome).tolist()
    df = result.to_pandas()
    assert list(df.index) == list(result.index) and df.index.name == "element"
    assert set(df.columns) == {"winner", "argmin_B0", "outcome"}
    assert df["winner"].dtype.kind == "i"
    assert df["outcome"].tolist() == ff.outcome_names(result.outcome).tolist()
    # The names survive a file.
    loaded = ff.load_sweep(result.save(tmp_path / "r.npz"))
    assert loaded.to_xarray()["beta"].dims == ("element", "frequency", "time")


def test_select_keeps_elements_and_their_outcomes():
    result = ff.sweep_alignment([0.5, np.pi, 2.0], 0.02, 11, 0.01, progress=False)
    ok = result.select(result.ok)
    assert ok.n == 2 and list(ok.index) == [0, 2]
    assert ff.outcome_names(ok.outcome).tolist() == ["event", "event"]
