"""Tests of `fourierflow.train_ensemble` / `run_ensemble`: every member against its solo run,
divergence of one member, kill-and-resume, the command line and the seed-distribution
experiment. Budget: < 60 s on two cores.

Solo runs (`train`, `run_config`) are the independent reference: each member must end where
its solo run ends. Bit for bit where XLA compiles the member's arithmetic as in the solo
program: SGD (with momentum) on members with the same number of folded train pairs. To
rounding otherwise, for two reasons: (1) Adam's bias corrections `1 - b^t` are scalars in a
solo program but one per member in the ensemble, and XLA's algebraic simplifier rewrites the
divisions by them differently (`(mu / c1) / (sqrt(nu / c2) + eps)` becomes `mu / (c1 (...))`
solo and `mu * (1 / c1) / (...)` batched); (2) members whose splits fold to fewer pairs are
padded with zero-weight rows, which changes the order of their sums. Each is one rounding per
step, which the training dynamics then amplify.
"""

import functools
import json
import os
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import ANNOUNCED_WRITES

import fourierflow as ff
from fourierflow import cli

P = 11


def _leaves_equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(
        np.shape(x) == np.shape(y) and np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
        for x, y in zip(la, lb, strict=True)
    )


def _max_rel(a, b) -> float:
    """The largest `max|x - y| / max|y|` over the leaves (NaN entries must coincide)."""
    out = 0.0
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x, float), np.asarray(y, float)
        assert x.shape == y.shape and np.array_equal(np.isnan(x), np.isnan(y))
        x, y = np.nan_to_num(x), np.nan_to_num(y)
        out = max(out, float(np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-300)))
    return out


def test_members_equal_their_solo_runs_and_one_diverges_alone(getkey):
    """Seeds, initialization scales and learning rates differ per member (SGD with momentum,
    one split); the second member's learning rate makes it diverge. Every member's network,
    optimizer state (which carries its own learning rate), history and snapshots equal its
    solo `train` run bit for bit: the diverged one stopped at its last finite state exactly as
    its solo run with `throw=False` does (NaN metrics after), the others ran to the end."""
    scales, lrs = (1.0, 1.0, 0.5), (0.1, 3.0, 0.2)
    nets = [ff.init_gaussian(getkey(), 7, 16, s, "quad") for s in scales]
    split = ff.random_split(getkey(), 7, 0.8)
    sgd = functools.partial(optax.sgd, momentum=0.9)
    kw = dict(steps=60, log_every=4, snapshot_every=8, throw=False, progress=False)
    nets0, hyperparameters = ff.stack_nets(nets), dict(learning_rate=lrs)
    ensemble = ff.train_ensemble(nets0, sgd, hyperparameters=hyperparameters, splits=split, **kw)
    assert ff.outcome_names(ensemble.result).tolist() == ["successful", "nonfinite", "successful"]
    assert ensemble.history.train_loss.shape == (3, 16)
    for i, (net0, lr) in enumerate(zip(nets, lrs, strict=True)):
        solo = ff.train(net0, sgd(lr), split=split, **kw)
        member = ensemble.member(i)
        assert member.result == solo.result and member.step == solo.step
        assert member.opt_state.hyperparams["learning_rate"] == lr
        assert _leaves_equal(member.opt_state.inner_state, solo.opt_state)
        assert _leaves_equal(
            (member.net, member.history, member.snapshots, member.snapshot_steps),
            (solo.net, solo.history, solo.snapshots, solo.snapshot_steps),
        )
        assert not _leaves_equal(member.net, net0)  # it trained
    last = int(ensemble.step[1])
    assert 0 < last < 60
    after = np.asarray(ensemble.history.step[1]) > last
    assert np.all(np.isnan(np.asarray(ensemble.history.train_loss[1])[after]))
    assert np.all(np.isfinite(np.asarray(ensemble.history.train_loss[1])[~after]))
    assert np.all(np.isfinite(np.asarray(ensemble.net.theta[1])))
    with pytest.raises(FloatingPointError, match=r"members \[1\] became non-finite"):
        ff.train_ensemble(
            nets0, sgd, hyperparameters=hyperparameters, splits=split, **dict(kw, throw=True)
        )


def test_run_ensemble_members_equal_run_config_to_rounding():
    """A grid of seeds x learning rates x train fractions (AdamW, different splits) against
    `run_config` of each member: the same initial network and split, and the same trained
    network and history to rounding (see the module docstring for why not bit for bit)."""
    config = ff.get_config("grokking", p=P, width=8, steps=200, log_every=50, weight_decay=1.0)
    grid = dict(lr=[1e-2, 2e-2], train_fraction=[0.6, 0.9])
    members = ff.ensemble_members(config, seeds=(3, 4), **grid)
    assert [(c.lr, c.train_fraction, s) for c, s in members] == [
        (lr, f, s) for lr in grid["lr"] for f in grid["train_fraction"] for s in (3, 4)
    ]
    nets0, splits, _, hyperparameters = ff.ensemble_setup(members)
    assert np.array_equal(hyperparameters["learning_rate"], [c.lr for c, _ in members])
    ensemble = ff.run_ensemble(config, seeds=(3, 4), progress=False, **grid)
    for i in (0, 7):  # between them every learning rate, fraction and seed
        c, s = members[i]
        net0, split = ff.config_setup(c, s)
        assert _leaves_equal(jax.tree.map(lambda a, i=i: a[i], nets0), net0)
        assert np.array_equal(splits.train[i], split.train)
        solo = ff.run_config(c, seed=s, progress=False)
        member = ensemble.member(i)
        assert member.step == 200 and member.result == ff.Outcome.successful
        assert _max_rel(member.net, solo.net) < 1e-9
        assert _max_rel(member.history, solo.history) < 1e-9
        assert _max_rel(member.opt_state.inner_state, solo.opt_state) < 1e-9


DRIVER = (
    ANNOUNCED_WRITES
    + """
config = _configs.get_config("grokking", **args["config"])
_configs.run_ensemble(config, args["seeds"], lr=args["lr"], checkpoint_dir=args["folder"],
    checkpoint_every=args["every"], throw=False, progress=False)
"""
)
RESUME = dict(
    config=dict(p=7, width=8, steps=150, log_every=10, optimizer="sgd", activation="quad",
                init_scale=1.0),
    seeds=[5, 6], lr=[0.5, 2.0], every=30,
)  # fmt: skip


def test_killed_ensemble_resumes_bit_identically(tmp_path):
    """Killed inside the write of its third checkpoint (step 90), after one member diverged
    (step 20): resuming falls back to step 60 and ends bit for bit where an uninterrupted run
    ends, frozen member included; another grid's checkpoint is refused."""
    folder = tmp_path / "run"
    args = dict(RESUME, folder=str(folder), hold="step_000000090.json")
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, json.dumps(args)],
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.strip() == "writing step_000000090.json":
            break
    assert proc.poll() is None, "".join(lines)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (folder / "step_000000090.json").exists()
    assert (folder / "step_000000060.json").exists()

    config = ff.get_config("grokking", **RESUME["config"])
    kw = dict(lr=RESUME["lr"], throw=False, progress=False)
    reference = ff.run_ensemble(config, RESUME["seeds"], **kw)
    # Members: (lr, seed) = (0.5, 5), (0.5, 6), (2.0, 5), (2.0, 6); the third diverges.
    assert ff.outcome_names(reference.result).tolist() == [
        "successful", "successful", "nonfinite", "successful"
    ]  # fmt: skip
    assert int(reference.step[2]) < 60  # frozen before the checkpoint it resumes from
    with pytest.warns(UserWarning, match=r"incomplete checkpoint .*step_000000090"):
        resumed = ff.run_ensemble(config, RESUME["seeds"], checkpoint_dir=folder, resume=True, **kw)
    fields = lambda r: (r.net, r.opt_state, r.history, r.step, r.result)  # noqa: E731
    assert _leaves_equal(fields(resumed), fields(reference))
    with pytest.raises(ValueError, match=r"another run.*`hyperparameters\.learning_rate`"):
        ff.run_ensemble(
            config, RESUME["seeds"], checkpoint_dir=folder, resume=True, lr=[0.5, 1.0],
            progress=False,
        )  # fmt: skip


def test_cli_trains_an_ensemble_over_seeds(tmp_path, capsys, monkeypatch):
    out = tmp_path / "ens"
    args = ["--p", "7", "--width", "8", "--steps", "20", "--log-every", "10"]
    cli.main(["train", "grokking", "--seeds", "3", "--out", str(out)] + args)
    numbers = json.loads((out / "results.json").read_text())
    assert [m["seed"] for m in numbers["members"]] == [0, 1, 2]
    config = ff.get_config("grokking", p=7, width=8, steps=20, log_every=10)
    for m in numbers["members"]:
        assert m["outcome"] == "successful" and m["steps"] == 20
        assert m["history"]["step"] == [0, 10, 20]
        # Step 0 is the member's seeded network on its seeded split (as `run_config` draws).
        direct = ff.evaluate(*ff.config_setup(config, m["seed"]), "mean")
        for name in ("train_loss", "test_loss", "test_accuracy", "weight_norm"):
            assert m["history"][name][0] == pytest.approx(float(direct[name]), rel=1e-12)
    assert (out / "history.png").stat().st_size > 0
    assert json.loads((out / "metadata.json").read_text())["arguments"]["seeds"] == [0, 1, 2]
    assert "3 members" in capsys.readouterr().out

    # One value of --lr is a single run, as before (`run_config`, stopped before training).
    class Called(Exception):
        pass

    def run_config(cfg, seed, **kwargs):
        raise Called(cfg, seed)

    monkeypatch.setattr("fourierflow._configs.run_config", run_config)
    with pytest.raises(Called) as called:
        cli.main(["train", "grokking", "--lr", "0.02", "--out", str(tmp_path / "one")] + args)
    assert called.value.args == (config.replace(lr=0.02), 0)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "standard", "--seeds", "0"], "`seeds`"),
        (["train", "standard", "--lr", "1e-3", "-1"], "`lr`"),
        (["train", "standard", "--seeds", "2", "--frac-train", "0.5", "2"], "`train_fraction`"),
        (["train", "standard", "--wd", "0", "1", "--checkpoint-every", "150"], "checkpoint"),
    ],
)
def test_ensemble_usage_errors_are_one_line(argv, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_invalid_arguments_rejected_before_compiling(getkey, monkeypatch):
    nets = ff.stack_nets([ff.init_gaussian(getkey(), 7, 4, 1.0, "relu") for _ in range(2)])
    monkeypatch.setattr(jax, "jit", lambda *a, **k: pytest.fail("compiled before checking"))
    kw = dict(steps=10, log_every=10, progress=False)
    one = jax.tree.map(lambda a: a[0], nets)
    empty = ff.Split(jnp.zeros((7, 7), bool))
    cases = [
        (lambda: ff.train_ensemble(one, optax.sgd(0.1), **kw), ValueError, "member axis"),
        (lambda: ff.train_ensemble(nets, optax.sgd, **kw), TypeError, "factory together"),
        (
            lambda: ff.train_ensemble(nets, optax.sgd(0.1), hyperparameters={"lr": 1.0}, **kw),
            TypeError,
            "must be a factory",
        ),
        (
            lambda: ff.train_ensemble(nets, optax.sgd, hyperparameters={"lr": 1.0}, **kw),
            TypeError,
            r"\['lr'\] are not keywords",
        ),
        (
            lambda: ff.train_ensemble(
                nets, optax.sgd, hyperparameters={"learning_rate": [1.0, 2.0, 3.0]}, **kw
            ),
            ValueError,
            r"shape \(2,\)",
        ),
        (
            lambda: ff.train_ensemble(nets, optax.sgd(0.1), splits=[ff.full_split(7)], **kw),
            ValueError,
            "one split per member",
        ),
        (
            lambda: ff.train_ensemble(nets, optax.sgd(0.1), splits=[ff.full_split(7), empty], **kw),
            ValueError,
            r"members \[1\] have no train pairs",
        ),
        (lambda: ff.train_ensemble(nets, optax.sgd(0.1), steps=15, log_every=10), ValueError,
         "multiple"),
        (lambda: ff.ensemble_members("standard", range(2), p=[7, 11]), ValueError,
         "cannot vary"),
        (lambda: ff.ensemble_members("standard", 3), TypeError, "`seeds`"),
        (
            lambda: ff.ensemble_setup(
                [(ff.get_config("standard", p=7), 0), (ff.get_config("standard", p=9), 1)]
            ),
            ValueError,
            r"member 1 differs from member 0 in \['p'\]",
        ),
    ]  # fmt: skip
    for call, error, match in cases:
        with pytest.raises(error, match=match):
            call()


def test_seed_distributions_tiny(tmp_path):
    from fourierflow.experiments import seed_distributions

    result = seed_distributions.main(
        out=str(tmp_path), seeds=2, first_seed=4, standard_steps=100, table1_steps=200,
        grokking_steps=100, p=7, width=8, log_every=100, checkpoint_every=100, figures=False,
    )  # fmt: skip
    assert isinstance(result, seed_distributions.SeedDistributions)
    assert result.seeds == (4, 5) and result.mean_abs_sin_D["n"] == 2
    assert result.mean_abs_sin_D["paper"] == 0.085 and result.t_generalized["paper"] == 9400
    assert set(result.table1_accuracy) >= {"relu", "x^3"}
    # Obs. 2 of member 1 is the phase alignment of seed 5's solo run after 100 steps.
    solo = ff.run_config("standard", seed=5, p=7, width=8, steps=100, progress=False)
    assert result.mean_abs_sin_D["values"][1] == pytest.approx(
        float(ff.phase_alignment(solo.net)), rel=1e-9
    )
    s = result.mean_abs_sin_D
    assert s["min"] <= s["mean"] <= s["max"]
    numbers = json.loads((tmp_path / "results.json").read_text())
    assert numbers["steps"]["full_experiment"]["seeds"] == 32
    assert len(numbers["fraction_energy_above_0p8"]["values"]) == 2
    # The figure of the distributions (saving it at 300 dpi would cost more than the runs).
    figure = seed_distributions._plot_distributions(numbers)
    assert len(figure.axes) == 8
