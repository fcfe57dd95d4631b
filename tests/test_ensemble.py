"""Ensembles of exact and main flows: every member equals its solo solve, sharded ensembles merge
to the whole, devices do not change the members."""

import json
import subprocess
import sys
import textwrap

import diffrax as dfx
import jax.random as jr
import numpy as np
import pytest

import fourierflow as ff

P, M, KAPPA = 11, 3, 0.05
TIGHT = dfx.PIDController(rtol=1e-10, atol=1e-14)
EVENTS = [ff.Aligned(0.05), ff.MagnitudeAbove(4 * KAPPA)]
TS = np.linspace(0.0, 5.0, 4)


def _init(x):
    return ff.init_single_frequency(x["key"], P, M, x["kappa"])


def _inputs(n=6):
    kappa = np.full(n, KAPPA)
    kappa[-1] = 0.01  # slower: reaches neither event before t1 = 5
    return {"key": jr.split(jr.key(0), n), "kappa": kappa}


def _ensemble(flow="exact", **kwargs):
    return ff.solve_ensemble(
        init=_init, inputs=_inputs(), ts=TS, flow=flow, event=EVENTS,
        stepsize_controller=TIGHT, progress=False, **kwargs,
    )  # fmt: skip


@pytest.mark.parametrize("flow", ["exact", "main"])
def test_members_equal_their_solo_solves(flow):
    result = _ensemble(flow)
    solve = ff.solve_exact if flow == "exact" else ff.solve_main
    inputs = _inputs()
    names = ff.outcome_names(result.outcome)
    fired = set()
    for i in range(result.n):
        net = _init({"key": inputs["key"][i], "kappa": inputs["kappa"][i]})
        sol = solve(
            net, saveat=dfx.SaveAt(ts=TS, fn=ff.flow_statistics), event=EVENTS,
            stepsize_controller=TIGHT, throw=False,
        )  # fmt: skip
        assert names[i] == ff.outcome_names(sol.result)
        np.testing.assert_allclose(result["t_stop"][i], sol.t_stop, rtol=1e-10)
        for k, event in enumerate((ff.Aligned, ff.MagnitudeAbove)):
            got = result[f"t_event/{event.__name__}"][i]
            np.testing.assert_allclose(got, sol.event_time(event), rtol=1e-10)
            fired |= {event.__name__} if bool(sol.event_mask[k]) else set()
        for name in ("alpha", "beta", "loss"):
            ref = np.asarray(sol.ys[name])
            np.testing.assert_allclose(
                result[f"stat/{name}"][i], ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max()
            )
        # Phases at the neurons' own frequencies: the others carry only the flow's leak,
        # whose phase is ill-conditioned (a 1e-14 change in the weights moves it by 1e-6).
        present = np.asarray(sol.ys["beta"]) > 0.1 * KAPPA
        np.testing.assert_allclose(
            result["stat/D"][i][present], np.asarray(sol.ys["D"])[present], atol=1e-9
        )
    # The batch mixes members that stop on each event and one that runs to t1.
    assert fired == {"Aligned", "MagnitudeAbove"} and names[-1] == "successful"


def _assert_close(a, b):
    """Two ensembles' members agree: inputs exactly, times and magnitudes to 1e-10, phases at
    the neurons' own frequencies (batches of other sizes vectorise the arithmetic otherwise)."""
    for name in a.inputs:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    for name in b.outputs:
        if name == "stat/D":
            present = b["stat/beta"] > 0.1 * KAPPA
            np.testing.assert_allclose(a[name][present], b[name][present], atol=1e-9)
        elif name != "num_steps":
            np.testing.assert_allclose(a[name], b[name], rtol=1e-10, atol=1e-14, err_msg=name)


def test_shards_merge_to_the_whole(tmp_path):
    whole = _ensemble()
    parts = [_ensemble(shard=(i, 3), out=str(tmp_path / f"s{i}")) for i in range(3)]
    merged = ff.merge_sweeps([ff.load_sweep(tmp_path / f"s{i}" / "sweep.npz") for i in range(3)])
    _assert_close(merged, whole)
    assert merged.describe() == whole.describe() and [p.n for p in parts] == [2, 2, 2]
    assert merged.to_xarray()["stat/beta"].dims == ("element", "time", "neuron", "frequency")


DEVICES = textwrap.dedent(
    """
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax
    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, {tests!r})
    from test_ensemble import _ensemble
    assert len(jax.devices()) == 4
    out = {{}}
    for nd in (1, 4):
        r = _ensemble(devices=jax.devices()[:nd], chunk_size=4)
        out[nd] = [r["t_stop"].tolist(), r["stat/beta"].ravel().tolist()]
    print(json.dumps(out))
    """
)


def test_members_do_not_depend_on_the_devices():
    import os

    code = DEVICES.format(tests=os.path.dirname(__file__))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    # Members are solved alone (vmapped): only the vectorised arithmetic may differ.
    for nd in ("4",):
        np.testing.assert_allclose(out[nd][0], out["1"][0], rtol=1e-10)
        np.testing.assert_allclose(out[nd][1], out["1"][1], rtol=1e-10, atol=1e-14)


def test_members_given_as_a_batched_network_and_bad_input():
    import jax

    nets = jax.vmap(lambda k: ff.init_multi_frequency(k, P, M, KAPPA))(jr.split(jr.key(1), 3))
    result = ff.solve_ensemble(nets, event=ff.MagnitudeAbove(0.2), progress=False)
    assert result.describe() == {"event": 3} and result["theta"].shape == (3, M, P)
    with pytest.raises(ValueError, match="not both"):
        ff.solve_ensemble(nets, init=_init, inputs=_inputs())
    with pytest.raises(ValueError, match="one leading member axis"):
        ff.solve_ensemble(jax.tree.map(lambda a: a[0], nets))
    with pytest.raises(ValueError, match="`flow`"):
        ff.solve_ensemble(nets, flow="reduced")


@pytest.mark.parametrize("platform, budget", [("cpu", 2 << 20), ("gpu", 1 << 30)])
@pytest.mark.parametrize("p, width, itemsize", [(23, 64, 8), (23, 64, 4), (97, 1024, 8), (3, 1, 4)])
def test_ensemble_chunk_size_is_the_largest_that_fits(platform, budget, p, width, itemsize):
    """Members per chunk: the most whose (pairs x neurons) intermediates fit the platform's
    budget (2 MiB on a CPU, 1 GiB on an accelerator), at least 1, at most the sweep chunk."""
    member = p * (p + 1) // 2 * width * itemsize
    chunk = ff.ensemble_chunk_size(p, width, itemsize, platform)
    cap = ff.default_chunk_size(platform)
    assert 1 <= chunk <= cap
    assert chunk == 1 or chunk * member <= budget
    assert chunk == cap or (chunk + 1) * member > budget
