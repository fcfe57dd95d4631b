"""The Diffrax options every solve passes through: `solver`, `stepsize_controller`, `dt0`,
`max_steps`, `adjoint`, `progress_meter`, `throw`, with their checks and defaults.

They travel together as one `SolverOptions` Module; the step-size controller's tolerances are
stored as arrays, so a new tolerance is new data for a compiled solve, not a recompilation.
"""

import diffrax as dfx
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._checks import check_controller, check_diffrax_options, check_positive, warn_if_float32


class SolverOptions(eqx.Module):
    """How a solve is carried out (Diffrax's meanings); built by `solver_options`."""

    solver: dfx.AbstractSolver
    stepsize_controller: dfx.AbstractStepSizeController
    dt0: Float[Array, ""] | None
    adjoint: dfx.AbstractAdjoint
    progress_meter: dfx.AbstractProgressMeter
    event_rtol: Float[Array, ""]
    max_steps: int = eqx.field(static=True)
    throw: bool = eqx.field(static=True)

    def diffeqsolve(self, term, t0, t1, y0, args, saveat, event) -> dfx.Solution:
        """`diffrax.diffeqsolve` with these options."""
        return dfx.diffeqsolve(
            term,
            self.solver,
            t0=t0,
            t1=t1,
            dt0=self.dt0,
            y0=y0,
            args=args,
            saveat=saveat,
            stepsize_controller=self.stepsize_controller,
            adjoint=self.adjoint,
            event=event,
            max_steps=self.max_steps,
            throw=self.throw,
            progress_meter=self.progress_meter,
        )


def solver_options(
    *,
    solver,
    stepsize_controller,
    dt0,
    max_steps,
    adjoint,
    progress_meter,
    throw,
    event_rtol,
    default_controller: dfx.AbstractStepSizeController,
    what: str,
    saveat=None,
) -> SolverOptions:
    """Check the Diffrax arguments of a solve (before anything compiles) and fill in defaults:
    `Tsit5()`, `default_controller`, Diffrax's `RecursiveCheckpointAdjoint()` and no progress
    meter. Warns once if x64 is off (`what` names the solve)."""
    check_diffrax_options(
        solver=solver,
        stepsize_controller=stepsize_controller,
        dt0=dt0,
        max_steps=max_steps,
        adjoint=adjoint,
        progress_meter=progress_meter,
        saveat=saveat,
        throw=throw,
    )
    check_positive(event_rtol, "event_rtol")
    warn_if_float32(what)
    controller = default_controller if stepsize_controller is None else stepsize_controller
    return SolverOptions(
        solver=dfx.Tsit5() if solver is None else solver,
        stepsize_controller=check_controller(controller),
        dt0=None if dt0 is None else jnp.asarray(dt0, dtype=float),
        adjoint=dfx.RecursiveCheckpointAdjoint() if adjoint is None else adjoint,
        progress_meter=dfx.NoProgressMeter() if progress_meter is None else progress_meter,
        event_rtol=jnp.asarray(event_rtol, dtype=float),
        max_steps=int(max_steps),
        throw=throw,
    )


def saving_rule(saveat, ts) -> dfx.SubSaveAt:
    """The user's saving rule as one `SubSaveAt`: from `saveat` (a `diffrax.SaveAt` with one
    sub-rule, no dense output) or from `ts` (`SaveAt(ts=ts)`); `SaveAt(t1=True)` if neither."""
    if saveat is None:
        return dfx.SubSaveAt(t1=True) if ts is None else dfx.SubSaveAt(ts=ts)
    if ts is not None:
        raise ValueError("give the save times as `ts` or inside `saveat`, not both.")
    if saveat.dense:
        raise ValueError(
            "`saveat.dense` is not supported here: save at `ts` (or `steps=True`) instead."
        )
    if not isinstance(saveat.subs, dfx.SubSaveAt):
        raise ValueError("`saveat` must hold one saving rule (no nested `subs`).")
    return saveat.subs


# Diffrax's default saving function (the state itself).
SAVE_STATE = dfx.SubSaveAt(t1=True).fn


def user_function(rule: dfx.SubSaveAt):
    """The user's saving function, or `None` when the rule saves the state itself."""
    return None if rule.fn is SAVE_STATE else rule.fn


def only_times(rule: dfx.SubSaveAt) -> bool:
    """Whether the rule saves at its `ts` and nowhere else (so the solution's `ts` are the
    user's own, not times recomputed by the solve)."""
    return rule.ts is not None and not (rule.t0 or rule.t1 or rule.steps)


def with_stop(rule: dfx.SubSaveAt, ts, fn) -> dfx.SaveAt:
    """The full `SaveAt` of a solve: the user's rule (its `ts` replaced by `ts`, its `fn` by
    `fn`), `fn` at the final time (the value held after a stop) and the raw final state."""
    user = dfx.SubSaveAt(t0=rule.t0, t1=rule.t1, ts=ts, steps=rule.steps, fn=fn)
    return dfx.SaveAt(subs=[user, dfx.SubSaveAt(t1=True, fn=fn), dfx.SubSaveAt(t1=True)])


def end_time(t0, t1, save_ts, has_events: bool):
    """The end of a solve: `t1`, else the last save time, else `inf` (then an event must stop
    the solve). Checks that `t1 >= t0` and that no save time lies past it."""
    import jax
    import numpy as np

    from ._checks import check_finite

    if t1 is None:
        if save_ts is not None:
            return save_ts[-1]
        if not has_events:
            raise ValueError("give an end time (`ts`, `t1` or `saveat`) or an `event` to stop on.")
        return jnp.inf
    if not has_events:
        check_finite(t1, "t1", "an end time; an infinite one needs an event to stop on")
    if not isinstance(t1, jax.core.Tracer) and not isinstance(t0, jax.core.Tracer):
        if not float(t1) >= float(t0):
            raise ValueError(f"`t1` must be >= the start time {float(t0)}; got t1={t1!r}.")
        if save_ts is not None and not isinstance(save_ts, jax.core.Tracer):
            if float(np.asarray(save_ts)[-1]) > float(t1):
                raise ValueError(f"the save times must not go past `t1`={float(t1)}.")
    return jnp.asarray(t1, dtype=float)
