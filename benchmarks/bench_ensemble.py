"""Benchmark: an ensemble of exact flows against a Python loop of solo solves.

B networks (`init_multi_frequency`, p = 23, width 64, kappa = 0.02) are solved to the end of
their initial stage (`MagnitudeAbove(10 kappa)`), saving their statistics at the stop:
(1) a loop of `solve_exact` calls, compiled once; (2) one `solve_ensemble`. Both are timed
after their compilation, interleaved, and the ensemble's members are checked against the solo
solves. Where the time goes: the exact vector field timed alone, solo and vmapped over B,
times the number of evaluations the solves made (Tsit5: 6 per step, 5 with FSAL).

Run `python benchmarks/bench_ensemble.py [--key value ...]`; writes
`benchmarks/results/<host>_bench_ensemble.json`.
"""

import json
import os
import platform
import time

import diffrax as dfx
import jax
import jax.random as jr
import numpy as np

import fourierflow as ff


def _best(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def main(
    members: int = 256,
    p: int = 23,
    width: int = 64,
    kappa: float = 0.02,
    repeats: int = 3,
    float64: bool = True,
    out: str = "benchmarks/results",
) -> dict:
    """Time the ensemble and the loop; print and write the numbers."""
    jax.config.update("jax_enable_x64", float64)
    keys = jr.split(jr.key(0), members)
    nets = jax.vmap(lambda k: ff.init_multi_frequency(k, p, width, kappa))(keys)
    event = ff.MagnitudeAbove(10 * kappa)
    controller = dfx.PIDController(rtol=1e-8, atol=1e-12 if float64 else 1e-7)
    saveat = dfx.SaveAt(t1=True, fn=ff.flow_statistics)

    def solo(i):
        net = jax.tree.map(lambda a: a[i], nets)
        return ff.solve_exact(net, saveat=saveat, event=event, stepsize_controller=controller)

    def loop():
        return [solo(i).t_stop for i in range(members)]

    def ensemble():
        r = ff.solve_ensemble(nets, event=event, stepsize_controller=controller, progress=False)
        return r["t_stop"]

    t0 = time.perf_counter()
    first = solo(0)
    jax.block_until_ready(first.t_stop)
    compile_solo = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = ensemble()
    compile_ensemble = time.perf_counter() - t0
    loop_times, ensemble_times = [], []
    for _ in range(repeats):  # interleaved
        loop_times.append(_best(loop, 1))
        ensemble_times.append(_best(ensemble, 1))
    t_loop, t_ens = min(loop_times), min(ensemble_times)
    steps = np.asarray([int(solo(i).stats["num_steps"]) for i in range(min(members, 32))])
    check = np.asarray([float(solo(i).t_stop) for i in range(8)])
    member_error = float(np.max(np.abs(check / np.asarray(ref)[:8] - 1)))

    # Where the time goes: the vector field alone, solo and vmapped over the members.
    args = ff.flow_args(p)
    vf = jax.jit(ff.exact_vector_field)
    vvf = jax.jit(jax.vmap(ff.exact_vector_field, in_axes=(None, 0, None)))
    net0 = jax.tree.map(lambda a: a[0], nets)
    jax.block_until_ready(vf(0.0, net0, args))
    jax.block_until_ready(vvf(0.0, nets, args))
    per_eval = _best(lambda: [vf(0.0, net0, args) for _ in range(50)][-1], repeats) / 50
    per_batch = _best(lambda: vvf(0.0, nets, args), repeats)
    evals_per_solve = 6 * float(np.mean(steps))
    results = dict(
        machine=platform.machine(),
        processor=platform.processor(),
        load_average=os.getloadavg(),
        devices=[str(d) for d in jax.devices()],
        float64=float64,
        members=members,
        p=p,
        width=width,
        kappa=kappa,
        compile_solo_s=compile_solo,
        compile_ensemble_s=compile_ensemble - t_ens,
        loop_s=t_loop,
        ensemble_s=t_ens,
        speedup=t_loop / t_ens,
        mean_steps=float(np.mean(steps)),
        member_vs_solo_max_rel_error_t_stop=member_error,
        vector_field_solo_us=per_eval * 1e6,
        vector_field_vmapped_us_per_member=per_batch / members * 1e6,
        loop_share_in_vector_field=members * evals_per_solve * per_eval / t_loop,
        ensemble_share_in_vector_field=evals_per_solve * per_batch / t_ens,
    )
    print(json.dumps(results, indent=1))
    os.makedirs(out, exist_ok=True)
    name = f"{platform.node() or 'host'}_bench_ensemble{'' if float64 else '_f32'}.json"
    with open(os.path.join(out, name), "w") as f:
        json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
