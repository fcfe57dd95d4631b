"""The command line: usage errors in one line before anything is written, internal errors with
their traceback, `--version`, the experiments listed, shards that merge, a small compare."""

import json
from pathlib import Path

import numpy as np
import pytest

import fourierflow as ff
from fourierflow import cli
from fourierflow.experiments import list_experiments

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["compare", "--p", "4"], "`p`"),
        (["compare", "--kappa", "-1"], "`kappa`"),
        (["compare", "--kappa", "1e300"], "`kappa`"),
        (["compare", "--delta", "2"], "`delta`"),
        (["compare", "--p", "4001"], "GiB"),
        (["sweep", "--delta", "1.5"], "`delta`"),
        (["sweep", "--shard", "3/2"], "`shard`"),
        (["sweep", "--n", "0"], "`n`"),
        (["train", "standard", "--steps", "0"], "`steps`"),
        (["train", "standard", "--p", "8"], "`p`"),
        (["train", "standard", "--activation", "tanhh"], "activation"),
        (["train", "standard", "--checkpoint-every", "150"], "`checkpoint_every`"),
        (["sweep", "--kind", "ensemble", "--width", "0"], "`width`"),
        (["reproduce", "no_such_experiment"], "unknown experiment"),
        (["reproduce", "lottery", "--num-processes", "2"], "`num_processes`"),
        (["merge", "missing.npz"], "`files`"),
    ],
)
def test_usage_errors_are_one_line_and_write_nothing(argv, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not list(tmp_path.iterdir()), "nothing may be written for bad arguments"


def test_unwritable_output_folder_is_a_usage_error(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "file").write_text("")
    # A file where a folder is needed is unwritable for root as well.
    with pytest.raises(SystemExit) as exc:
        cli.main(["sweep", "--n", "4", "--out", str(locked / "file" / "sub")])
    assert exc.value.code == 2 and "`out`" in capsys.readouterr().err


def test_internal_errors_keep_their_traceback(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("an internal bug")

    monkeypatch.setattr("fourierflow._reduced_sweeps.sweep_alignment", broken)
    with pytest.raises(ValueError, match="an internal bug"):
        cli.main(["sweep", "--n", "4", "--out", str(tmp_path / "s")])


def test_version(capsys):
    cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"fourierflow {ff.__version__}"


def test_reproduce_list_names_every_experiment(capsys):
    cli.main(["reproduce", "--list"])
    printed = capsys.readouterr().out
    modules = sorted(
        p.stem for p in (ROOT / "fourierflow" / "experiments").glob("*.py") if p.stem[0] != "_"
    )
    assert modules and sorted(list_experiments()) == modules
    readme = (ROOT / "experiments" / "README.md").read_text()
    for name in modules:
        assert name in printed
        assert f"`{name}`" in readme, f"experiments/README.md lacks {name}"


def test_sweep_shards_merge_to_the_whole(tmp_path, capsys):
    args = ["sweep", "--n", "64", "--p", "11", "--method", "closed_form", "--seed", "3"]
    cli.main(args + ["--out", str(tmp_path / "whole")])
    for i in range(3):
        cli.main(args + ["--out", str(tmp_path / "parts"), "--shard", f"{i}/3"])
    parts = sorted((tmp_path / "parts").glob("shard-*-of-3/sweep.npz"))
    assert len(parts) == 3
    cli.main(["merge", *map(str, parts), "--out", str(tmp_path / "merged.npz")])
    whole = ff.load_sweep(tmp_path / "whole" / "sweep.npz")
    merged = ff.load_sweep(tmp_path / "merged.npz")
    assert np.array_equal(whole["D0"], merged["D0"])
    assert np.allclose(whole["t_delta"], merged["t_delta"], rtol=1e-12, atol=0)
    meta = json.loads(Path(tmp_path / "whole" / "metadata.json").read_text())
    assert meta["arguments"]["seed"] == 3 and "jax" in meta["versions"]
    # One shard of three is refused by name (exit 2), unless a partial result is asked for.
    with pytest.raises(SystemExit) as exc:
        cli.main(["merge", str(parts[0]), "--out", str(tmp_path / "one.npz")])
    assert exc.value.code == 2 and "[1, 2] of 3 are missing" in capsys.readouterr().err
    cli.main(["merge", str(parts[0]), "--out", str(tmp_path / "one.npz"), "--allow-partial"])
    assert ff.load_sweep(tmp_path / "one.npz").partial
    # A shard of another sweep (another p) is refused, naming what differs.
    other = args[:4] + ["13"] + args[5:]
    cli.main(other + ["--out", str(tmp_path / "other"), "--shard", "1/3"])
    odd = tmp_path / "other" / "shard-1-of-3" / "sweep.npz"
    with pytest.raises(SystemExit) as exc:
        cli.main(["merge", str(parts[0]), str(odd), str(parts[2]), "--out", str(tmp_path / "x")])
    assert exc.value.code == 2 and "inputs_sha256.p" in capsys.readouterr().err
    # Running again into a folder that holds a sweep needs --resume; with it, the result is
    # read back, not recomputed.
    with pytest.raises(SystemExit) as exc:
        cli.main(args + ["--out", str(tmp_path / "whole")])
    assert exc.value.code == 2 and "--resume" in capsys.readouterr().err
    cli.main(args + ["--out", str(tmp_path / "whole"), "--resume"])


def test_compare_reports_the_event_times(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--p", "5", "--width", "1", "--n-times", "8", "--t-end", "100"]
    cli.main(argv + ["--out", str(out)])
    printed = capsys.readouterr().out
    for method in ("exact", "main", "reduced"):
        assert method in printed
    numbers = json.loads((out / "results.json").read_text())
    rows = numbers["methods"]
    # The main flow is the per-frequency ODE in weight space: the same event times (the
    # stage's end differs only by max|w| vs max(alpha, beta) of a sampled cosine).
    assert abs(rows["main"]["t_aligned"] / rows["reduced"]["t_aligned"] - 1) < 1e-5
    assert rows["exact"]["outcome"] == ["event"] and rows["main"]["outcome"] == ["event"]
    assert rows["main"]["t_aligned"] < rows["main"]["t_end"] == rows["main"]["t_stop"]
    assert (out / "comparison_neuron0.png").stat().st_size > 0


def test_sweep_of_an_exact_flow_ensemble_equals_solo_solves(tmp_path):
    """`sweep --kind ensemble`: member i is `init_multi_frequency(key_i, p, width, kappa)`
    solved alone by `solve_exact` to max |weight| = 10 kappa."""
    import jax.random as jr

    p, width, kappa, seed = 11, 6, 0.05, 4
    cli.main(["sweep", "--kind", "ensemble", "--n", "3", "--p", str(p), "--width", str(width),
              "--kappa-max", str(kappa), "--seed", str(seed), "--out", str(tmp_path / "e")])  # fmt: skip
    result = ff.load_sweep(tmp_path / "e" / "sweep.npz")
    assert result.describe() == {"event": 3}
    for i, key in enumerate(jr.split(jr.key(seed), 3)):
        net0 = ff.init_multi_frequency(key, p, width, kappa)
        solo = ff.solve_exact(net0, event=ff.MagnitudeAbove(10 * kappa), throw=False)
        assert float(result["t_stop"][i]) == pytest.approx(float(solo.t_stop), rel=1e-10)
