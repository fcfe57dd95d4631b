import json
from pathlib import Path

import numpy as np
import pytest

import fourierflow as ff
from fourierflow import cli
from fourierflow._experiments import EXPERIMENTS_DIR, list_experiments


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["compare", "--p", "4"], "`p`"),
        (["compare", "--kappa", "-1"], "`kappa`"),
        (["sweep", "--delta", "1.5"], "`delta`"),
        (["sweep", "--shard", "3/2"], "`shard`"),
        (["sweep", "--n", "0"], "`n`"),
        (["train", "standard", "--steps", "0"], "`steps`"),
    ],
)
def test_bad_arguments_fail_before_work(argv, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert needle in str(exc.value)
    assert not list(tmp_path.iterdir()), "nothing may be written for bad arguments"


def test_reproduce_list_names_every_experiment(capsys):
    cli.main(["reproduce", "--list"])
    printed = capsys.readouterr().out
    scripts = sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.py"))
    assert scripts and sorted(list_experiments()) == scripts
    for name in scripts:
        assert name in printed
    readme = (EXPERIMENTS_DIR / "README.md").read_text()
    for name in scripts:
        assert f"`{name}`" in readme, f"experiments/README.md lacks {name}"


def test_sweep_shards_merge_to_the_whole(tmp_path):
    args = ["sweep", "--n", "64", "--p", "11", "--method", "closed_form", "--seed", "3"]
    cli.main(args + ["--out", str(tmp_path / "whole")])
    for i in range(3):
        cli.main(args + ["--out", str(tmp_path / "parts"), "--shard", f"{i}/3"])
    parts = sorted((tmp_path / "parts").glob("sweep-shard-*.npz"))
    cli.main(["merge", *map(str, parts), "--out", str(tmp_path / "merged.npz")])
    whole = ff.load_sweep(tmp_path / "whole" / "sweep.npz")
    merged = ff.load_sweep(tmp_path / "merged.npz")
    assert np.array_equal(whole["D0"], merged["D0"])
    assert np.allclose(whole["t_delta"], merged["t_delta"], rtol=1e-12, atol=0)
    meta = json.loads(Path(tmp_path / "whole" / "metadata.json").read_text())
    assert meta["arguments"]["seed"] == 3 and "jax" in meta["versions"]
