"""Sweeps of the per-frequency ODE: alignment times (Thm 5.3) and the lottery (Lemma C.3).

Both run through `sweep`, so they are chunked, sharded over devices, split into shards for
independent processes, and report an `Outcome` per element.
"""

import functools
from collections.abc import Sequence
from typing import Literal

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np

from ._alignment import solve_alignment
from ._checks import check_choice, check_positive_int, check_tolerance
from ._chunking import CLOSED_FORM_CHUNK, alignment_chunk_size
from ._closed_form import alignment_time_closed_form
from ._events import BlowUp
from ._fourier import misalignment, num_frequencies
from ._outcome import Outcome, where, worst
from ._phase_variable import alignment_span, is_pi
from ._reduced_ode import solve_reduced
from ._sweep import sweep
from ._sweep_result import SweepResult
from ._timescale import P_REF, rate_ratio, scaled_time
from ._types import ArrayLike, Float, Int

__all__ = ["sweep_alignment", "sweep_lottery"]


@functools.cache
def _alignment_block(method, reduction, rtol, atol, max_steps, with_phases, shared_steps):
    """The batched function of `sweep_alignment`: a block of elements to outputs, outcome."""

    def block(x):
        kappa, D0, delta, p = x["kappa"], x["D0"], x["delta"], x["p"]
        ratio = rate_ratio(p, reduction)
        if method == "closed_form":
            t_ref = alignment_time_closed_form(kappa, kappa, D0, P_REF, delta, reduction=reduction)
            t = t_ref * ratio
            outcome = where(is_pi(D0, jnp), Outcome.never_aligns, Outcome.event)
            return {"t_delta": t, "tau": scaled_time(t, kappa, p, reduction)}, outcome
        sol = solve_alignment(
            kappa,
            kappa,
            D0,
            P_REF,
            delta,
            reduction=reduction,
            phases=(x["phi0"], x["psi0"]) if with_phases else None,
            stepsize_controller=dfx.PIDController(rtol=rtol, atol=atol),
            max_steps=max_steps,
            throw=False,
            chunk_size=None,
            shared_steps=shared_steps,
        )
        t = sol.ts[..., 0] * ratio
        state = sol.y_stop
        out = {
            "t_delta": t,
            "tau": scaled_time(t, kappa, p, reduction),
            "beta": state.beta,
            "alpha": state.alpha,
            "D": state.D,
            "num_steps": sol.stats["num_steps"],
        }
        if with_phases:
            out["phi"], out["psi"] = state.phi, state.psi
        return out, sol.result

    block.__qualname__ = f"alignment_block[{method}]"
    return block


@jax.jit
def _span_bucket(D0, delta):
    return jnp.minimum(4 * alignment_span(D0, delta, jnp), 255).astype(jnp.uint8)


def _order_by_span(D0, delta):
    """A processing order that groups the span of the solves in ell to 1/4 (their cost): ODE
    blocks step until their longest solve is done. A stable radix sort of a byte: O(n)."""
    return np.argsort(np.asarray(_span_bucket(D0, delta)), kind="stable")


def _as_1d(name, value):
    arr = np.asarray(value)
    if arr.ndim > 1:
        raise ValueError(f"`{name}` must be a scalar or 1-D; got shape {arr.shape}.")
    return arr


def sweep_alignment(
    D0: Float[ArrayLike, " n"],
    kappa: Float[ArrayLike, " n"],
    p: Int[ArrayLike, " n"],
    delta: Float[ArrayLike, " n"],
    *,
    reduction: Literal["sum", "mean"] = "sum",
    method: Literal["ode", "closed_form"] = "ode",
    phases: tuple[Float[ArrayLike, " n"], Float[ArrayLike, " n"]] | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_steps: int = 4096,
    shared_steps: bool = True,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = True,
    shard: str | tuple[int, int] | None = None,
    seed: int | None = None,
    out: str | None = None,
    resume: bool = False,
) -> SweepResult:
    """Alignment times `t_delta` (Thm 5.3) of many single-frequency trajectories started at
    `alpha0 = beta0 = kappa`, as one sweep.

    **Arguments:**

    - `D0`: initial phase differences (any real, mod 2pi); `kappa`: initial magnitudes (> 0);
      `p`: moduli (odd integers >= 3, per element); `delta`: tolerances in (0, 1). Scalars
      and 1-D arrays broadcast together.
    - `reduction`: `"sum"` (rate `p`) or `"mean"` (rate `1/p`).
    - `method`: `"ode"` (`fourierflow.solve_alignment`: a Diffrax solve that ends exactly at
      the alignment event, one system per device block; it also gives the state at alignment)
      or `"closed_form"` (the jittable elliptic-integral form, times only).
    - `phases`: optional initial `(phi0, psi0)` (method `"ode"`): also return the phases at
      `t_delta` (the mean-field claim of Thm 5.3).
    - `rtol`, `atol`, `max_steps`, `shared_steps`: the ODE solver's options (see
      `solve_alignment`; with shared steps results depend on the block's other elements at the
      level of `rtol`; `shared_steps=False` makes each element independent of the others).
      The ODE's elements are put into chunks in order of their span in `ell` (its cost).
    - `chunk_size`, `devices`, `progress`, `shard`, `out`, `resume`: as `sweep` (default
      chunk: 65536 for the closed form; for the ODE `alignment_chunk_size` per device: 4096 on
      CPU, 262144 on accelerators); `seed`: recorded in metadata.

    **Returns:**

    A `SweepResult` with inputs `D0, kappa, p, delta` (and `phi0, psi0`) and outputs
    `t_delta`, `tau = r kappa t_delta` (`p kappa t_delta` for "sum"), and for `"ode"` the state
    `alpha, beta, D` at alignment and `num_steps` (and `phi, psi`). Outcomes: `event`
    (aligned), `never_aligns` (`D0 = pi`), or a solver failure.
    """
    check_choice(reduction, "reduction", ("sum", "mean"))
    check_choice(method, "method", ("ode", "closed_form"))
    if phases is not None and method != "ode":
        raise ValueError("`phases` needs method='ode'.")
    arrays = [_as_1d(n, v) for n, v in (("D0", D0), ("kappa", kappa), ("p", p), ("delta", delta))]
    if phases is not None:
        arrays += [_as_1d("phi0", phases[0]), _as_1d("psi0", phases[1])]
    arrays = np.broadcast_arrays(*arrays)
    D0, kappa, p, delta = (np.asarray(a, dtype=float) for a in arrays[:4])
    if not np.all(np.isfinite(D0)):
        raise ValueError("`D0` must be finite (any real, taken mod 2pi).")
    if phases is not None:
        gap = np.angle(np.exp(1j * (2 * np.asarray(arrays[4], float) - arrays[5] - D0)))
        if not np.all(np.abs(gap) <= 1e-9):
            raise ValueError("`phases` (phi0, psi0) must satisfy D0 = 2 phi0 - psi0 (mod 2pi).")
    if not np.all(np.isfinite(kappa) & (kappa > 0)):
        raise ValueError("`kappa` must be finite and > 0.")
    if not np.all((p == np.round(p)) & (p >= 3) & (np.round(p) % 2 == 1)):
        raise ValueError("`p` must hold odd integers >= 3.")
    if not np.all((delta > 0) & (delta < 1)):
        raise ValueError("`delta` must lie in (0, 1).")
    rtol = check_tolerance(rtol, "rtol")
    if not (np.isfinite(atol) and atol >= 0):
        raise ValueError(f"`atol` must be finite and >= 0; got atol={atol!r}.")
    max_steps = check_positive_int(max_steps, "max_steps")
    inputs = {"D0": D0, "kappa": kappa, "p": p.astype(np.int64), "delta": delta}
    if phases is not None:
        inputs |= {"phi0": np.asarray(arrays[4], float), "psi0": np.asarray(arrays[5], float)}
    fn = _alignment_block(
        method, reduction, rtol, float(atol), max_steps, phases is not None, bool(shared_steps)
    )
    order = None if method == "closed_form" else _order_by_span(D0, delta)
    if chunk_size is None:
        platform_devices = jax.devices() if devices is None else list(devices)
        per_device = alignment_chunk_size(platform_devices[0].platform)
        chunk_size = (
            CLOSED_FORM_CHUNK if method == "closed_form" else per_device * len(platform_devices)
        )
    metadata = {
        "sweep": "alignment",
        "reduction": reduction,
        "method": method,
        "rtol": rtol,
        "atol": atol,
        "max_steps": max_steps,
        "shared_steps": bool(shared_steps),
        "seed": seed,
    }
    return sweep(
        fn,
        inputs,
        chunk_size=chunk_size,
        batched=True,
        order=order,
        devices=devices,
        progress=progress,
        shard=shard,
        metadata=metadata,
        out=out,
        resume=resume,
    )


@functools.cache
def _lottery_element(p, ts, reduction, rtol, atol, max_steps):
    ts = jnp.asarray(ts)

    def element(x):
        D0 = x["D0"]
        sol = solve_reduced(
            x["alpha0"],
            x["beta0"],
            D0,
            p,
            ts,
            reduction=reduction,
            event=BlowUp(1e6),
            stepsize_controller=dfx.PIDController(rtol=rtol, atol=atol),
            max_steps=max_steps,
            throw=False,
            chunk_size=None,
        )
        out = {
            "alpha": sol.ys.alpha,
            "beta": sol.ys.beta,
            "B": misalignment(sol.ys.D),
            "winner": jnp.argmax(sol.ys.beta[:, -1]) + 1,
            "argmin_B0": jnp.argmin(misalignment(D0)) + 1,
        }
        return out, worst(sol.result)

    element.__qualname__ = "lottery_element"
    return element


def sweep_lottery(
    D0: Float[ArrayLike, "n K"],
    p: int,
    ts: Float[ArrayLike, " times"],
    *,
    kappa: Float[ArrayLike, " n"] | None = None,
    alpha0: Float[ArrayLike, "n K"] | None = None,
    beta0: Float[ArrayLike, "n K"] | None = None,
    reduction: Literal["sum", "mean"] = "sum",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 4096,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = True,
    shard: str | tuple[int, int] | None = None,
    seed: int | None = None,
    out: str | None = None,
    resume: bool = False,
) -> SweepResult:
    """The lottery among the frequencies of multi-frequency neurons (Lemma C.3, Cor 6.1): every
    (neuron, frequency) follows its own per-frequency ODE (the main flow decouples them).

    **Arguments:**

    - `D0`: `(n, K)` initial phase differences of `n` neurons at their `K` frequencies.
    - `p`: the modulus (odd, >= 3); `ts`: 1-D save times (before the winners' blow-up).
    - `kappa`: `(n,)` or scalar, for `multi_frequency(kappa)` (`alpha0 = beta0 = kappa`);
      or give `alpha0`, `beta0` `(n, K)` magnitudes (e.g. from a Gaussian initialization).
    - `reduction`, `rtol`, `atol`, `max_steps`: the per-frequency solver's options.
    - `chunk_size` (neurons per chunk), `devices`, `progress`, `shard`, `out`, `resume`: as
      `sweep`.
    - `seed`: recorded in the metadata.

    **Returns:**

    A `SweepResult` with outputs `alpha, beta, B` `(n, K, T)` (B the misalignment), `winner`
    (the frequency 1..K of largest `beta` at `ts[-1]`) and `argmin_B0` (Lemma C.3's predicted
    winner). Outcome `event` if some frequency hit the blow-up guard before `ts[-1]` (its
    values then hold).
    """
    check_choice(reduction, "reduction", ("sum", "mean"))
    K = num_frequencies(p)
    D0 = np.asarray(D0, dtype=float)
    if D0.ndim != 2 or D0.shape[1] != K:
        raise ValueError(f"`D0` must have shape (n, K={K}); got {D0.shape}.")
    if not np.all(np.isfinite(D0)):
        raise ValueError("`D0` must be finite.")
    if (kappa is None) == (alpha0 is None and beta0 is None):
        raise ValueError("give either `kappa` or both `alpha0` and `beta0`.")
    if kappa is not None:
        kappa = np.broadcast_to(np.asarray(kappa, dtype=float), D0.shape[:1])
        alpha0 = beta0 = np.broadcast_to(kappa[:, None], D0.shape)
    alpha0 = np.broadcast_to(np.asarray(alpha0, dtype=float), D0.shape)
    beta0 = np.broadcast_to(np.asarray(beta0, dtype=float), D0.shape)
    for name, v in (("alpha0", alpha0), ("beta0", beta0)):
        if not np.all(np.isfinite(v) & (v > 0)):
            raise ValueError(f"`{name}` (or `kappa`) must be finite and > 0.")
    ts_np = np.asarray(ts, dtype=float)
    if ts_np.ndim != 1 or ts_np.size < 1 or np.any(np.diff(ts_np) < 0) or np.any(ts_np < 0):
        raise ValueError("`ts` must be a non-empty, non-decreasing 1-D array of times >= 0.")
    rtol = check_tolerance(rtol, "rtol")
    max_steps = check_positive_int(max_steps, "max_steps")
    fn = _lottery_element(int(p), tuple(ts_np.tolist()), reduction, rtol, float(atol), max_steps)
    inputs = {"D0": D0, "alpha0": np.array(alpha0), "beta0": np.array(beta0)}
    metadata = {
        "sweep": "lottery",
        "p": int(p),
        "ts": ts_np,
        "reduction": reduction,
        "rtol": rtol,
        "atol": atol,
        "seed": seed,
    }
    return sweep(
        fn,
        inputs,
        chunk_size=chunk_size,
        devices=devices,
        progress=progress,
        shard=shard,
        metadata=metadata,
        out=out,
        resume=resume,
        dims={
            name: ("frequency",) if name in ("D0", "alpha0", "beta0") else ("frequency", "time")
            for name in ("D0", "alpha0", "beta0", "alpha", "beta", "B")
        },
    )
