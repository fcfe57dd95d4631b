"""The exact flow, the main flow and the per-frequency ODE side by side (Thm 5.2).

`compare` follows each neuron at its own frequency in all three dynamics from one
initialization, and reports for each the event times of the initial stage: when every neuron
is aligned (`Aligned(delta)`) and when the stage ends (`MagnitudeAbove(c_end)`), so that no
second solve is needed.
"""

from typing import Literal

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp

from ._checks import check_choice, check_in_open_interval, check_positive, check_reduction
from ._closed_form import alignment_time_exact
from ._events import Aligned, BlowUp, MagnitudeAbove
from ._flow_solve import Spectrum, check_flow_net, flow_spectrum, solve_exact, solve_main
from ._fourier import wrap_angle
from ._metrics import neuron_spectrum
from ._network import TwoLayerNet
from ._outcome import Outcome
from ._reduced_ode import solve_reduced
from ._types import Array, ArrayLike, Bool, Float, Int, Reduction

__all__ = ["Comparison", "NeuronTrack", "compare"]

METHODS = ("exact", "main", "reduced")


class NeuronTrack(eqx.Module):
    """Polar coordinates of each neuron at its own frequency over time.

    **Fields:**

    - `alpha`, `beta`: input/output magnitudes, `(T, M)`.
    - `D`: the phase difference `2 phi - psi` (in [0, 2pi), or wrapped to (-pi, pi] in a
      difference of two tracks).
    - `phi`, `psi`: input/output phases.
    """

    alpha: Float[Array, "T M"]
    beta: Float[Array, "T M"]
    D: Float[Array, "T M"]
    phi: Float[Array, "T M"]
    psi: Float[Array, "T M"]


class Comparison(eqx.Module):
    """Exact flow, main flow and per-frequency ODE from one initialization (Thm 5.2).

    Trajectories share the save times `ts`; after a method's solve stopped (an event), its
    values hold the state at its `t_stop`; `valid` marks the times reached by all three.

    **Fields:**

    - `ts`: save times `(T,)`.
    - `k`: each neuron's frequency (1..K: `argmax_k beta_k` at t=0), `(M,)`.
    - `exact`, `main`, `reduced`: `NeuronTrack`s at frequency `k_m`, `(T, M)` each.
    - `leak_exact`, `leak_main`: the size of everything outside frequency `k_m` (other
      frequencies and DC, both layers), `sqrt(2/p) * ||off-frequency part of (theta_m, xi_m)||`
      (in the units of `alpha`: a cosine of magnitude `a` has this size `a`), `(T, M)`.
    - `t_aligned`: per method, the time every neuron is aligned (`|sin D_m| <= delta`); `inf`
      if it does not happen before the end of the initial stage (or no `delta` was given).
    - `t_end`: per method, the end of the initial stage, `max |weights| >= c_end` (for the
      reduced ODE `max_m max(alpha_m, beta_m) >= c_end`); `inf` if not reached.
    - `t_stop`: per method, when its solve stopped.
    - `result`: per method, the `Outcome` of its solve (`Outcome.event` when it stopped on one;
      for the reduced ODE one per neuron, `(M,)`).
    - `p`, `reduction`: the modulus and the loss reduction (static).
    """

    ts: Float[Array, " T"]
    k: Int[Array, " M"]
    exact: NeuronTrack
    main: NeuronTrack
    reduced: NeuronTrack
    leak_exact: Float[Array, "T M"]
    leak_main: Float[Array, "T M"]
    t_aligned: dict[str, Float[Array, ""]]
    t_end: dict[str, Float[Array, ""]]
    t_stop: dict[str, Float[Array, ""]]
    result: dict[str, Outcome]
    p: int = eqx.field(static=True)
    reduction: str = eqx.field(static=True, default="sum")

    @property
    def valid(self) -> Bool[Array, " T"]:
        """Whether every method reached each saved time."""
        return self.ts <= jnp.minimum(self.t_stop["exact"], self.t_stop["main"])

    def difference(
        self, a: Literal["exact", "main", "reduced"], b: Literal["exact", "main", "reduced"]
    ) -> NeuronTrack:
        """Track `a` minus track `b`; angles (`D`, `phi`, `psi`) wrapped to (-pi, pi].

        **Arguments:**

        - `a`, `b`: method names, `"exact"`, `"main"` or `"reduced"`.

        **Returns:**

        A `NeuronTrack` of differences, `(T, M)` each.
        """
        ta = getattr(self, check_choice(a, "a", METHODS))
        tb = getattr(self, check_choice(b, "b", METHODS))
        return NeuronTrack(
            alpha=ta.alpha - tb.alpha,
            beta=ta.beta - tb.beta,
            D=wrap_angle(ta.D - tb.D),
            phi=wrap_angle(ta.phi - tb.phi),
            psi=wrap_angle(ta.psi - tb.psi),
        )

    def error(
        self, a: Literal["exact", "main", "reduced"], b: Literal["exact", "main", "reduced"]
    ) -> dict[str, Float[Array, ""]]:
        """Error of track `a` against reference `b` over the valid times.

        **Arguments:**

        - `a`, `b`: method names (`b` is the reference).

        **Returns:**

        `{"alpha": max |a.alpha / b.alpha - 1|, "beta": max |a.beta / b.beta - 1|,
        "D": max |a.D - b.D| (wrapped)}` over all neurons and valid times.
        """
        diff = self.difference(a, b)
        ref = getattr(self, b)
        mask = self.valid[:, None]
        rel = lambda d, r: jnp.max(jnp.where(mask, jnp.abs(d / r), 0.0))  # noqa: E731
        return {
            "alpha": rel(diff.alpha, ref.alpha),
            "beta": rel(diff.beta, ref.beta),
            "D": jnp.max(jnp.where(mask, jnp.abs(diff.D), 0.0)),
        }


def _track(spectrum: Spectrum, k0) -> tuple[NeuronTrack, Float[Array, "T M"]]:
    """The polar coordinates at each neuron's frequency `k0` (0-based) and the leak."""

    def at(a):
        idx = jnp.broadcast_to(k0[None, :, None], a.shape[:2] + (1,))
        return jnp.take_along_axis(a, idx, axis=-1)[..., 0]

    track = NeuronTrack(*(at(getattr(spectrum, n)) for n in ("alpha", "beta", "D", "phi", "psi")))
    K = spectrum.alpha.shape[-1]
    p = 2 * K + 1
    # In alpha's units: a frequency contributes alpha_k^2 + beta_k^2, the DC (2/p) g0^2.
    # Sum the other frequencies directly: subtracting the own frequency from the total would
    # cancel catastrophically (the leak is ~1e-10 of the total at small kappa).
    other = jnp.arange(K)[None, None, :] != k0[None, :, None]
    off = jnp.sum(jnp.where(other, spectrum.alpha**2 + spectrum.beta**2, 0.0), axis=-1)
    dc = (2 / p) * (spectrum.theta_dc**2 + spectrum.xi_dc**2)
    return track, jnp.sqrt(off + dc)


# After alignment the solve goes on to the end of the stage with the same events (and so the
# same compiled program): alignment at this tolerance cannot happen again.
_NEVER = 1e-300


def _stage(solve, net0, ts, delta, c_end, guard, kw):
    """One flow through the initial stage: stop at `c_end` (or the guard), noting when every
    neuron aligned on the way. Returns the saved spectrum, the two event times, `t_stop` and
    the outcome."""
    aligned = [] if delta is None else [Aligned(delta)]
    end = [] if c_end is None else [MagnitudeAbove(c_end)]
    saveat = dfx.SaveAt(ts=ts, fn=flow_spectrum)
    sol = solve(net0, saveat=saveat, event=[*aligned, *end, guard], **kw)
    t_aligned = sol.event_time(Aligned)
    spectrum = sol.ys
    if aligned and end and bool(sol.stopped_by(Aligned)):
        rest = solve(
            sol.y_stop,
            t0=sol.t_stop,
            saveat=dfx.SaveAt(ts=jnp.maximum(ts, sol.t_stop), fn=flow_spectrum),
            event=[Aligned(_NEVER), *end, guard],
            **kw,
        )
        before = ts <= sol.t_stop
        spectrum = jax.tree.map(
            lambda a, b: jnp.where(before.reshape((-1,) + (1,) * (a.ndim - 1)), a, b),
            sol.ys,
            rest.ys,
        )
        sol = rest
    return spectrum, t_aligned, sol.event_time(MagnitudeAbove), sol.t_stop, sol.result


def compare(
    net0: TwoLayerNet,
    ts: Float[ArrayLike, " T"],
    *,
    reduction: Reduction = "sum",
    delta: float | None = None,
    c_end: float | None = None,
    blowup: BlowUp = BlowUp(1e6),
    solver: dfx.AbstractSolver | None = None,
    stepsize_controller: dfx.AbstractStepSizeController | None = None,
    max_steps: int = 100_000,
    throw: bool = True,
    progress: bool = False,
) -> Comparison:
    """Run the exact flow, the main flow and the per-frequency ODE from `net0` (Thm 5.2).

    Each neuron is followed at its own frequency `k_m = argmax_k beta_k(0)` (for
    `init_single_frequency` the only one present): the exact and main flows in weight space
    (`solve_exact`, `solve_main`, saving `flow_spectrum`), the per-frequency ODE
    (`solve_reduced`, with phases) from each neuron's `(alpha, beta, D, phi, psi)` at `k_m`
    (each neuron to its own end of the stage). Each weight-space flow runs through the
    initial stage: to `max |weights| = c_end` (or the blow-up guard, or `ts[-1]`), and when
    `delta` is given the time every neuron aligns is recorded on the way (the reduced ODE's
    from the closed form, `alignment_time_exact`).

    **Arguments:**

    - `net0`: the initial network (unbatched, `activation="quad"`, full data); every neuron
      needs a nonzero magnitude at its frequency in both layers.
    - `ts`: non-decreasing save times.
    - `reduction`: `"sum"` or `"mean"`.
    - `delta`: the alignment tolerance in (0, 1) (`None`: no alignment times).
    - `c_end`: the end of the initial stage, `max |weights| >= c_end` (`None`: run to `ts[-1]`).
    - `blowup`: the blow-up guard of every solve.
    - `solver`, `stepsize_controller`, `max_steps`, `throw`: Diffrax's, for all three solves
      (default controller `PIDController(rtol=1e-8, atol=1e-12)`).
    - `progress`: show a progress bar over the three solves.

    **Returns:**

    A `Comparison`, with the event times per method in `t_aligned` and `t_end`.
    """
    check_flow_net(net0)
    if net0.activation != "quad" or net0.embedding is not None:
        raise ValueError(
            f"`net0` must be a quadratic network without embedding to compare with the main "
            f"flow; got activation={net0.activation!r}."
        )
    check_reduction(reduction)
    if delta is not None:
        check_in_open_interval(delta, "delta", 0.0, 1.0)
    if c_end is not None:
        check_positive(c_end, "c_end")
    if stepsize_controller is None:
        stepsize_controller = dfx.PIDController(rtol=1e-8, atol=1e-12)
    s0 = neuron_spectrum(net0)
    k0 = jnp.argmax(s0["beta"], axis=-1)
    pick = lambda a: jnp.take_along_axis(a, k0[:, None], axis=-1)[:, 0]  # noqa: E731
    alpha0, beta0, D0 = pick(s0["alpha"]), pick(s0["beta"]), pick(s0["D"])
    check_positive(alpha0, "alpha of net0 at each neuron's frequency")
    check_positive(beta0, "beta of net0 at each neuron's frequency")
    kw = dict(
        reduction=reduction,
        solver=solver,
        stepsize_controller=stepsize_controller,
        max_steps=max_steps,
        throw=throw,
    )
    from tqdm.auto import tqdm

    bar = tqdm(total=3, disable=not progress, desc="compare", unit="solve")
    spectra, t_aligned, t_end, t_stop, result = {}, {}, {}, {}, {}
    for name, solve in (("exact", solve_exact), ("main", solve_main)):
        bar.set_postfix_str(f"{name} flow")
        spectra[name], t_aligned[name], t_end[name], t_stop[name], result[name] = _stage(
            solve, net0, jnp.asarray(ts, dtype=float), delta, c_end, blowup, kw
        )
        bar.update()
    bar.set_postfix_str("per-frequency ODE")
    ts = jnp.asarray(ts, dtype=float)
    red = solve_reduced(
        alpha0,
        beta0,
        D0,
        net0.p,
        ts,
        phases=(pick(s0["phi"]), pick(s0["psi"])),
        event=[blowup] + ([] if c_end is None else [MagnitudeAbove(c_end)]),
        **kw,
    )
    bar.update()
    bar.close()
    t_end["reduced"] = jnp.min(red.event_time(MagnitudeAbove))
    t_stop["reduced"] = jnp.min(red.t_stop)
    result["reduced"] = red.result
    if delta is not None:
        t_aligned["reduced"] = jnp.max(alignment_time_exact(alpha0, beta0, D0, net0.p, delta))
    else:
        t_aligned["reduced"] = jnp.asarray(jnp.inf)
    for name in METHODS:  # alignment counts only within the initial stage
        t_aligned[name] = jnp.where(t_aligned[name] <= t_end[name], t_aligned[name], jnp.inf)
    reduced = NeuronTrack(*(getattr(red.ys, n).T for n in ("alpha", "beta", "D", "phi", "psi")))
    exact_track, leak_exact = _track(spectra["exact"], k0)
    main_track, leak_main = _track(spectra["main"], k0)
    return Comparison(
        ts=ts,
        k=k0 + 1,
        exact=exact_track,
        main=main_track,
        reduced=reduced,
        leak_exact=leak_exact,
        leak_main=leak_main,
        t_aligned=t_aligned,
        t_end=t_end,
        t_stop=t_stop,
        result=result,
        p=net0.p,
        reduction=reduction,
    )
