"""The lottery among the frequencies of one neuron, run to dominance (Lemma C.3, Cor 6.1).

In the main flow the frequencies of a `multi_frequency(kappa)` neuron are decoupled: each
follows its own per-frequency ODE from `(kappa, kappa, D_k(0))`. The ranking of `beta_k(t)`
is the reverse ranking of `B_k(0)` at all times (Lemma C.3), so the winner is
`w = argmin_k B_k(0)`, and the dominance time `t_eps` is the first time
`max_{k != w} beta_k / beta_w <= eps`.
"""

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp

from ._checks import check_finite, check_in_open_interval, check_positive
from ._diffrax import solver_options
from ._events import AbstractEvent, BlowUp, as_events, diffrax_event
from ._outcome import Outcome, from_diffrax, where
from ._phase_variable import angles
from ._reduced_ode import guard_condition, natural_state, scaled_initial_state, scaled_vector_field
from ._solution import DominanceSolution
from ._timescale import theory_rate
from ._types import Array, ArrayLike, Float, Reduction

__all__ = ["dominance_time", "solve_dominance"]


class _Dominance(AbstractEvent):
    # The dominance of frequency `winner` at ratio `eps` (an internal event: its time is the
    # solve's purpose, so `solve_dominance` takes `eps` as an argument).
    log_inv_eps: Float[Array, ""]
    winner: Array


def _dominance_condition(event: _Dominance, tau, y, frame):
    log_b = y[1]
    w = event.winner
    others = jnp.where(jnp.arange(log_b.shape[0]) == w, -jnp.inf, log_b)
    gap = log_b[w] - jnp.max(others)
    # Normalised by the winner's growth rate so the slope stays of order one (bisection).
    growth = 1 + 4 * jnp.exp(log_b[w]) + jnp.exp(2 * y[0, w] - log_b[w])
    return (event.log_inv_eps - gap) / growth


def _guard_condition(event: BlowUp, tau, y, frame):
    # The guard on the winner alone: the others grow more slowly (Lemma C.3).
    return jnp.min(guard_condition(y, jnp.log(event.beta_max)))


_CONDITIONS = {_Dominance: _dominance_condition, BlowUp: _guard_condition}


@eqx.filter_jit
def _solve_flat(kappa, D0, log_inv_eps, guard, r, options):
    def single(kappa, D0, log_inv_eps, guard):
        frame, y0 = scaled_initial_state(jnp.full_like(D0, kappa), jnp.full_like(D0, kappa), D0)
        sin_D0, cos_D0, _ = angles(D0, jnp)
        B0 = jnp.arctan2(sin_D0, cos_D0)  # misalignment in [0, pi]
        winner = jnp.argmin(B0)
        tie = jnp.sum(B0 == B0[winner]) > 1
        events = (_Dominance(log_inv_eps, winner), guard)
        sol = options.diffeqsolve(
            dfx.ODETerm(scaled_vector_field),
            0.0,
            jnp.where(tie, 0.0, jnp.inf),  # a tie never resolves: nothing to solve
            y0,
            frame,
            dfx.SaveAt(t1=True),
            diffrax_event(events, _CONDITIONS, options.event_rtol),
        )
        result = where(tie, Outcome.no_unique_winner, from_diffrax(sol.result))
        dominated, guarded = (m & ~tie for m in sol.event_mask)
        t_stop = sol.ts[-1] / (r * kappa)
        state = natural_state(sol.ys[-1], frame)
        t_eps = jnp.where(dominated, t_stop, jnp.inf)
        stats = {"num_steps": sol.stats["num_steps"]}
        return t_eps, state, result, stats, t_stop, (dominated, guarded), winner + 1

    return jax.vmap(single)(kappa, D0, log_inv_eps, guard)


def solve_dominance(
    kappa: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch K"],
    p: int,
    eps: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
    event: BlowUp = BlowUp(1e12),
    solver: dfx.AbstractSolver | None = None,
    stepsize_controller: dfx.AbstractStepSizeController | None = None,
    dt0: float | None = None,
    max_steps: int = 4096,
    adjoint: dfx.AbstractAdjoint | None = None,
    progress_meter: dfx.AbstractProgressMeter | None = None,
    throw: bool = True,
    event_rtol: float = 1e-13,
) -> DominanceSolution:
    """Run a multi-frequency neuron to dominance (Lemma C.3, Cor 6.1).

    Every frequency `k` follows its own per-frequency ODE from `(kappa, kappa, D_k0)` (the
    main flow decouples them); `t_eps` is the first time `max_{k != w} beta_k / beta_w <= eps`,
    with the winner `w = argmin_k B_k(0)`. Found by a Diffrax event with bisection; the solve
    has no end time: it stops on dominance or on the blow-up guard.

    **Arguments:**

    - `kappa`: common initial magnitude (> 0); `D0`: initial phase differences, last axis K
      (>= 2) frequencies; `p`: the modulus (sets the rate; warns when not prime).
    - `eps`: dominance ratio in (0, 1); `reduction`: `"sum"` or `"mean"`.
    - `event`: the blow-up guard, `BlowUp(beta_max)` on the winner (default `1e12`). Near the
      blow-up the time left is about `1 / (2 r beta)`, so float64 resolves growth up to about
      `1e13 / (r t_star)`: a near-tie whose dominance needs more growth than that stops on the
      guard (`event_mask[0]`), with `t_eps = inf`, instead of running out of steps.
    - `solver`, `stepsize_controller`, `dt0`, `max_steps`, `adjoint`, `progress_meter`,
      `throw`: Diffrax's (default controller `PIDController(rtol=1e-8, atol=1e-10)`).
    - `event_rtol`: tolerance of the event time's root find.

    **Returns:**

    A `DominanceSolution` with batch shape `broadcast(kappa, D0[..., 0], eps).shape`:
    `ts[..., 0]` is `t_eps` (`inf` when not reached: `Outcome.no_unique_winner` for a tie,
    or the `BlowUp` guard fired first: `event_mask[0]`), `ys` the `ReducedState` of every frequency
    there (`(*batch, 1, K)`), `winner` the 1-based frequency.
    """
    check_positive(kappa, "kappa")
    check_in_open_interval(eps, "eps", 0.0, 1.0)
    check_finite(D0, "D0", "any real, taken mod 2pi")
    events = as_events(event, (BlowUp,))
    if len(events) != 1:
        raise ValueError("`event` must be one fourierflow.BlowUp guard.")
    r = jnp.asarray(theory_rate(p, reduction), dtype=float)  # traced: one compile for every p
    options = solver_options(
        solver=solver,
        stepsize_controller=stepsize_controller,
        dt0=dt0,
        max_steps=max_steps,
        adjoint=adjoint,
        progress_meter=progress_meter,
        throw=throw,
        event_rtol=event_rtol,
        default_controller=dfx.PIDController(rtol=1e-8, atol=1e-10),
        what="solve_dominance",
    )
    D0 = jnp.asarray(D0, float)
    if D0.ndim < 1 or D0.shape[-1] < 2:
        raise ValueError(f"`D0` must have a last axis of K >= 2 frequencies; got {D0.shape}.")
    K = D0.shape[-1]
    kappa, eps = jnp.asarray(kappa, float), jnp.asarray(eps, float)
    guard = events[0]
    shape = jnp.broadcast_shapes(kappa.shape, D0.shape[:-1], eps.shape, guard.beta_max.shape)
    flat = lambda a: jnp.broadcast_to(a, shape).reshape(-1)  # noqa: E731
    t_eps, state, result, stats, t_stop, mask, winner = _solve_flat(
        flat(kappa),
        jnp.broadcast_to(D0, shape + (K,)).reshape(-1, K),
        -jnp.log(flat(eps)),
        BlowUp(flat(guard.beta_max)),
        r,
        options,
    )
    unflat = lambda a: a.reshape(shape + a.shape[1:])  # noqa: E731
    state = jax.tree.map(unflat, state)
    return DominanceSolution(
        ts=unflat(t_eps)[..., None],
        ys=jax.tree.map(lambda a: a[..., None, :], state),
        result=jax.tree.map(unflat, result),
        stats=jax.tree.map(unflat, stats),
        t_stop=unflat(t_stop),
        y_stop=state,
        event_mask=(unflat(mask[1]),),
        events=(guard,),
        winner=unflat(winner),
    )


def dominance_time(
    kappa: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch K"],
    p: int,
    eps: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
    **kwargs,
) -> Float[Array, "*batch"]:
    """The dominance time `t_eps` of a multi-frequency neuron: `solve_dominance(...).ts[..., 0]`.

    **Arguments:**

    - as `solve_dominance` (keyword options are passed on).

    **Returns:**

    `t_eps` (`inf` when there is no unique winner or the guard fired first).
    """
    return solve_dominance(kappa, D0, p, eps, reduction=reduction, **kwargs).ts[..., 0]
