"""`solve_exact` and `solve_main`: the flows integrated by Diffrax, stopping on events.

Both share one solver: the vector field (exact or main flow), `saveat` (the whole network, or
a statistic such as `flow_spectrum`), the events (`Aligned`, `MagnitudeAbove`, `BlowUp`) and
Diffrax's options. The solution follows the one rule of every solve: after a stop, saved
values hold the state at `t_stop`, and `valid` says which saved times were reached. The event
root find is safe under `jax.vmap`, so a batch of networks in which some stop on an event and
others do not gives each element what it gets alone.
"""

from collections.abc import Callable

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_reduction, check_times
from ._data import Split
from ._diffrax import (
    end_time,
    only_times,
    saving_rule,
    solver_options,
    user_function,
    with_stop,
)
from ._events import (
    Aligned,
    BlowUp,
    MagnitudeAbove,
    as_events,
    diffrax_event,
    initial_stops,
)
from ._flows import FlowArgs, exact_vector_field, flow_args, main_flow_vector_field
from ._fourier import fourier_coefficients
from ._metrics import neuron_spectrum
from ._network import TwoLayerNet, folded_loss
from ._outcome import Outcome, from_diffrax, where
from ._solution import FlowSolution, hold_after_stop
from ._types import Array, ArrayLike, Float, Reduction

__all__ = ["Spectrum", "flow_spectrum", "solve_exact", "solve_main"]


class Spectrum(eqx.Module):
    """Per-(neuron, frequency) polar coordinates and the loss of a network: what
    `flow_spectrum` saves instead of the whole weights.

    **Fields:**

    - `alpha`, `phi`: magnitudes and phases of `theta_m`, `(..., M, K)`.
    - `beta`, `psi`: the same for `xi_m`.
    - `D`: `2 phi - psi mod 2pi`, in [0, 2pi).
    - `theta_dc`, `xi_dc`: the DC coefficients `<theta_m, b0>`, `<xi_m, b0>`, `(..., M)`.
    - `loss`: the flow's loss (on its data, with its reduction), `(...)`.
    """

    alpha: Float[Array, "*T M K"]
    phi: Float[Array, "*T M K"]
    beta: Float[Array, "*T M K"]
    psi: Float[Array, "*T M K"]
    D: Float[Array, "*T M K"]
    theta_dc: Float[Array, "*T M"]
    xi_dc: Float[Array, "*T M"]
    loss: Float[Array, "*T"]


def flow_spectrum(t: Float[ArrayLike, ""], net: TwoLayerNet, args: FlowArgs) -> Spectrum:
    """The `Spectrum` of a network: a saving function for `diffrax.SaveAt(fn=...)`.

    `solve_exact(net0, saveat=diffrax.SaveAt(ts=ts, fn=fourierflow.flow_spectrum))` records
    the polar coordinates per neuron and frequency, the DC parts and the loss at `ts`
    (`(M, K)` numbers per time instead of `2 M p` weights).

    **Arguments:**

    - `t`: the time (unused).
    - `net`: the network (unbatched).
    - `args`: the flow's `FlowArgs` (its data and reduction, for the loss).

    **Returns:**

    A `Spectrum`.
    """
    del t
    s = neuron_spectrum(net)
    return Spectrum(
        alpha=s["alpha"],
        phi=s["phi"],
        beta=s["beta"],
        psi=s["psi"],
        D=s["D"],
        theta_dc=fourier_coefficients(net.theta)[0],
        xi_dc=fourier_coefficients(net.xi)[0],
        loss=folded_loss(net, args.pairs, args.reduction),
    )


def max_abs_weight(net: TwoLayerNet) -> Float[Array, ""]:
    """`max |w|` over `theta` and `xi` (the magnitude that `MagnitudeAbove` watches)."""
    return jnp.maximum(jnp.max(jnp.abs(net.theta)), jnp.max(jnp.abs(net.xi)))


def max_abs_sin_D(net: TwoLayerNet) -> Float[Array, ""]:
    """`max_m |sin D_m|` with `D_m` at each neuron's dominant frequency (`argmax_k beta_k`)."""
    s = neuron_spectrum(net)
    k = jnp.argmax(s["beta"], axis=-1)[..., None]
    D = jnp.take_along_axis(s["D"], k, axis=-1)[..., 0]
    return jnp.max(jnp.abs(jnp.sin(D)))


# Conditions: positive before the event, through zero at it, slope of order one in time.
def _aligned_condition(event: Aligned, t, net, args):
    return max_abs_sin_D(net) / event.delta - 1.0


def _magnitude_condition(event: MagnitudeAbove, t, net, args):
    # 1/max|w|: near a finite-time blow-up max|w| ~ 1/(2p (t_star - t)), so this falls about
    # linearly however large the level, and its bisection stays well scaled.
    return 1.0 / max_abs_weight(net) - 1.0 / event.level


def _blowup_condition(event: BlowUp, t, net, args):
    return _magnitude_condition(MagnitudeAbove(event.beta_max * args.scale0), t, net, args)


_CONDITIONS = {
    Aligned: _aligned_condition,
    MagnitudeAbove: _magnitude_condition,
    BlowUp: _blowup_condition,
}


class _Args(eqx.Module):
    # The vector field's own args, plus max|w(0)| for the blow-up guard's level.
    flow: FlowArgs
    scale0: Float[Array, ""]


@eqx.filter_jit
def _solve(vector_field, net0, args, t0, t1, save_ts, rule, fn, events, options):
    args = _Args(args, max_abs_weight(net0))
    already = initial_stops(events, _CONDITIONS, t0, net0, args)
    stop0 = jnp.any(jnp.stack(already)) if events else jnp.array(False)
    t1_run = jnp.where(stop0, t0, t1)
    ts = None if save_ts is None else jnp.clip(save_ts, t0, t1_run)

    def save(t, net, args):
        return net if fn is None else fn(t, net, args.flow)

    sol = options.diffeqsolve(
        dfx.ODETerm(lambda t, y, a: vector_field(t, y, a.flow)),
        t0,
        t1_run,
        net0,
        args,
        with_stop(rule, ts, save),
        diffrax_event(events, _CONDITIONS, options.event_rtol),
    )
    (ts_saved, ys), (_, ys_at_stop), (t_end, y_end) = zip(sol.ts, sol.ys, strict=True)
    result = from_diffrax(sol.result)
    mask = tuple(sol.event_mask) if events else ()
    if events:
        mask = tuple(jnp.where(stop0, a, m) for a, m in zip(already, mask, strict=True))
        result = where(stop0, Outcome.event, result)
    t_stop = jnp.where(result == Outcome.successful, t1, t_end[0])
    t_stop = jnp.where(stop0, t0, t_stop)
    ys = hold_after_stop(ys, ts_saved, t_end[0], jax.tree.map(lambda a: a[0], ys_at_stop))
    stats = {k: sol.stats[k] for k in ("num_steps", "num_accepted_steps")}
    return ts_saved, ys, result, stats, t_stop, jax.tree.map(lambda a: a[0], y_end), mask


def check_flow_net(net0: TwoLayerNet, name: str = "net0") -> None:
    """`net0` must be one (unbatched) `TwoLayerNet`."""
    if not isinstance(net0, TwoLayerNet):
        raise TypeError(f"`{name}` must be a fourierflow.TwoLayerNet; got {type(net0).__name__}.")
    if net0.xi.ndim != 2:
        raise ValueError(
            f"`{name}` must be unbatched (theta, xi of shape (M, p)); got xi.shape="
            f"{net0.xi.shape}. For a batch, use jax.vmap (or fourierflow.sweep)."
        )


def _check_level(events, net0) -> None:
    """`MagnitudeAbove` levels must exceed the initial max |w| (else it fired before t0)."""
    try:
        m0 = float(max_abs_weight(net0))
    except jax.errors.ConcretizationTypeError:  # traced weights
        return
    for e in events:
        if isinstance(e, MagnitudeAbove) and not isinstance(e.level, jax.core.Tracer):
            if np.any(np.asarray(e.level) <= m0):
                raise ValueError(
                    f"`MagnitudeAbove.level` must exceed the initial max |weight| ({m0:.3g}); "
                    f"got level={np.asarray(e.level)!r}."
                )


def _flow_solution(
    vector_field: Callable,
    what: str,
    net0: TwoLayerNet,
    args: FlowArgs,
    ts,
    *,
    t0,
    t1,
    saveat,
    event,
    solver,
    stepsize_controller,
    dt0,
    max_steps,
    adjoint,
    progress_meter,
    throw,
    event_rtol,
) -> FlowSolution:
    rule = saving_rule(saveat, ts)
    save_ts = None if rule.ts is None else check_times(rule.ts, "ts")
    if t0 is None:
        t0 = save_ts[0] if save_ts is not None else 0.0
    t0 = jnp.asarray(t0, dtype=float)
    if save_ts is not None and not isinstance(save_ts, jax.core.Tracer):
        if not isinstance(t0, jax.core.Tracer) and float(save_ts[0]) < float(t0):
            raise ValueError(f"the save times must not precede `t0`={float(t0)}.")
    events = as_events(event, (Aligned, MagnitudeAbove, BlowUp))
    t1 = end_time(t0, t1, save_ts, bool(events))
    _check_level(events, net0)
    options = solver_options(
        solver=solver,
        stepsize_controller=stepsize_controller,
        dt0=dt0,
        max_steps=max_steps,
        adjoint=adjoint,
        progress_meter=progress_meter,
        throw=throw,
        event_rtol=event_rtol,
        default_controller=dfx.PIDController(rtol=1e-8, atol=1e-12),
        what=what,
        saveat=saveat,
    )
    ts_saved, ys, result, stats, t_stop, y_stop, mask = _solve(
        vector_field, net0, args, t0, t1, save_ts, rule, user_function(rule), events, options
    )
    return FlowSolution(
        ts=save_ts if only_times(rule) else ts_saved,
        ys=ys,
        result=result,
        stats=stats,
        t_stop=t_stop,
        y_stop=y_stop,
        event_mask=mask,
        events=events,
    )


def solve_exact(
    net0: TwoLayerNet,
    ts: Float[ArrayLike, " T"] | None = None,
    *,
    reduction: Reduction = "sum",
    split: Split | None = None,
    weight_decay: float = 0.0,
    t0: float | None = None,
    t1: float | None = None,
    saveat: dfx.SaveAt | None = None,
    event=BlowUp(1e6),
    solver: dfx.AbstractSolver | None = None,
    stepsize_controller: dfx.AbstractStepSizeController | None = None,
    dt0: float | None = None,
    max_steps: int = 100_000,
    adjoint: dfx.AbstractAdjoint | None = None,
    progress_meter: dfx.AbstractProgressMeter | None = None,
    throw: bool = True,
    event_rtol: float = 1e-12,
) -> FlowSolution:
    """Integrate the exact gradient flow from `net0`, saving at `ts`, stopping on events.

    The solve runs from `t0` (default `ts[0]`, or 0) to `t1` (default: the last save time;
    `inf` when only events end it) or to the first event: `Aligned(delta)` (every neuron
    aligned: `max_m |sin D_m| <= delta` at each neuron's dominant frequency),
    `MagnitudeAbove(c_end)` (the end of the initial stage, `max |weights| >= c_end`, Thm 5.2)
    or `BlowUp(beta_max)` (the guard: `max |weights|` grew by `beta_max`). Event times are
    root-found by bisection to `event_rtol`.

    For `relu` the flow's right-hand side jumps where a preactivation `u_m(x, y)` crosses 0 and
    the flow can slide along such a kink; an adaptive step-size controller then chatters (p=11,
    width 4, `init_gaussian(scale=1)` on a half split: about 4000 accepted Tsit5 steps to reach
    t=0.014, versus 48 steps to t=0.5 for `quad`). Use a constant step there
    (`stepsize_controller=diffrax.ConstantStepSize()`, `dt0`), gradient descent's own
    treatment of the kinks.

    **Arguments:**

    - `net0`: the initial network (unbatched: `jax.vmap` over a batch; any activation; an
      embedding flows too).
    - `ts`: non-decreasing save times; or give `saveat`.
    - `reduction`: `"sum"` (the theory's time) or `"mean"` (time `n` times longer).
    - `split`: `None` for full data, or a `fourierflow.Split` (train on `split.train`).
    - `weight_decay`: `lambda >= 0` (adds `-lambda * params`).
    - `t0`, `t1`: start and end times (see above).
    - `saveat`: a `diffrax.SaveAt`: `ts`, `t0`, `t1`, `steps`, and `fn(t, net, args)` to save a
      statistic instead of the network, e.g. `fourierflow.flow_spectrum`.
    - `event`: one or several of `Aligned`, `MagnitudeAbove`, `BlowUp` (default
      `BlowUp(1e6)`), or `None`. An event whose condition holds at `t0` stops the solve there.
    - `solver`, `stepsize_controller`, `dt0`, `max_steps`, `adjoint`, `progress_meter`,
      `throw`: Diffrax's (defaults `Tsit5()`, `PIDController(rtol=1e-8, atol=1e-12)`).
    - `event_rtol`: tolerance of the event time's root find.

    **Returns:**

    A `FlowSolution`: `ys` a `TwoLayerNet` whose `theta`, `xi` have a leading time axis (or
    the output of `saveat`'s `fn`), held at the state at `t_stop` after a stop.
    """
    check_flow_net(net0)
    check_reduction(reduction)
    args = flow_args(net0.p, reduction=reduction, split=split, weight_decay=weight_decay)
    return _flow_solution(
        exact_vector_field,
        "solve_exact",
        net0,
        args,
        ts,
        t0=t0,
        t1=t1,
        saveat=saveat,
        event=event,
        solver=solver,
        stepsize_controller=stepsize_controller,
        dt0=dt0,
        max_steps=max_steps,
        adjoint=adjoint,
        progress_meter=progress_meter,
        throw=throw,
        event_rtol=event_rtol,
    )


def solve_main(
    net0: TwoLayerNet,
    ts: Float[ArrayLike, " T"] | None = None,
    *,
    reduction: Reduction = "sum",
    weight_decay: float = 0.0,
    t0: float | None = None,
    t1: float | None = None,
    saveat: dfx.SaveAt | None = None,
    event=BlowUp(1e6),
    solver: dfx.AbstractSolver | None = None,
    stepsize_controller: dfx.AbstractStepSizeController | None = None,
    dt0: float | None = None,
    max_steps: int = 100_000,
    adjoint: dfx.AbstractAdjoint | None = None,
    progress_meter: dfx.AbstractProgressMeter | None = None,
    throw: bool = True,
    event_rtol: float = 1e-12,
) -> FlowSolution:
    """Integrate the main flow (Lemma B.3 / B.39) from `net0`, saving at `ts`.

    The main flow blows up in finite time, so the blow-up guard is on by default; the events,
    saving and solution are those of `solve_exact`. A saved `flow_spectrum`'s `loss` is the
    true cross-entropy of the current weights on full data.

    **Arguments:**

    - `net0`: the initial network (unbatched, `activation="quad"`, no embedding).
    - `ts`, `reduction`, `weight_decay`, `t0`, `t1`, `saveat`, `event`, `solver`,
      `stepsize_controller`, `dt0`, `max_steps`, `adjoint`, `progress_meter`, `throw`,
      `event_rtol`: as in `solve_exact`.

    **Returns:**

    A `FlowSolution`.
    """
    check_flow_net(net0)
    if net0.activation != "quad":
        raise ValueError(
            f"`net0.activation` must be 'quad' for the main flow; got {net0.activation!r}."
        )
    if net0.embedding is not None:
        raise ValueError("`net0` must have no embedding for the main flow.")
    check_reduction(reduction)
    args = flow_args(net0.p, reduction=reduction, weight_decay=weight_decay)
    return _flow_solution(
        main_flow_vector_field,
        "solve_main",
        net0,
        args,
        ts,
        t0=t0,
        t1=t1,
        saveat=saveat,
        event=event,
        solver=solver,
        stepsize_controller=stepsize_controller,
        dt0=dt0,
        max_steps=max_steps,
        adjoint=adjoint,
        progress_meter=progress_meter,
        throw=throw,
        event_rtol=event_rtol,
    )
