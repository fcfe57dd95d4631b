"""The per-frequency ODE (eq. 6.1, Lemma B.8): its vector field, invariants and `solve_reduced`.

For one (neuron, frequency) of the main flow, with rate `r = p` (`reduction="sum"`) or `1/p`
(`"mean"`):

    alpha' = 2r alpha beta cos D,   beta' = r alpha^2 cos D,   D' = -r (4 beta + alpha^2/beta) sin D
    phi'   = -2r beta sin D,        psi'  = r alpha^2 sin D / beta

`I1 = alpha^2 - 2 beta^2` and `I2 = alpha^2 beta sin D` are conserved.

Numerical choices (why the solver does not integrate `(alpha, beta, D)` directly):

- Time and magnitudes are made dimensionless with `s = beta0`: `a = alpha/s`, `b = beta/s`,
  `tau = r s t`. With `alpha0 = beta0 = kappa` the scaled problem is the same for every `p`,
  `kappa` and reduction, so `p kappa t_delta` is independent of them to rounding.
- The state is `(log a, log b, ell)` with `ell = log tan(|D|/2)` and the half-plane sign of
  `D` kept aside (`D` never crosses 0 or pi): `ell' = -(4b + a^2/b)` is independent of `D`,
  and `sin D = sech(ell)`, `cos D = -tanh(ell)` keep full relative precision near alignment
  and near the unstable point. Log-magnitudes make the tolerances relative and keep the
  finite-time blow-up (`beta ~ 1/(2r (t_star - t))`) well scaled.
- Events are conditions on this state scaled to a slope of order one in `tau`, so that the
  bisection of the event time converges in relative terms: alignment is `ell` reaching
  `ell_delta = -arccosh(1/delta)`, divided by `|ell'|`.
"""

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_finite, check_reduced_state, check_times
from ._chunking import check_chunk_size, chunked
from ._diffrax import (
    end_time,
    only_times,
    saving_rule,
    solver_options,
    user_function,
    with_stop,
)
from ._events import Aligned, BlowUp, MagnitudeAbove, as_events, diffrax_event, initial_stops
from ._fourier import wrap_angle
from ._outcome import Outcome, from_diffrax, where
from ._phase_variable import D_from_ell, angles, ell_aligned, ell_of, is_pi
from ._solution import ReducedSolution, ReducedState, hold_after_stop
from ._timescale import reduced_rate
from ._types import Array, ArrayLike, Float, Reduction

__all__ = ["invariants", "reduced_vector_field", "solve_reduced"]


def reduced_vector_field(t, y, args):
    """The per-frequency ODE (eq. 6.1, Lemma B.8) in its natural variables.

    **Arguments:**

    - `t`: time (unused: the system is autonomous).
    - `y`: `(alpha, beta, D)` or `(alpha, beta, D, phi, psi)`, a tuple of arrays.
    - `args`: the rate `r` (`p` for `reduction="sum"`, `1/p` for `"mean"`; see `reduced_rate`).

    **Returns:**

    The time derivative, a tuple of the same structure as `y`.
    """
    del t
    r = args
    alpha, beta, D = y[:3]
    cos_D, sin_D = jnp.cos(D), jnp.sin(D)
    d_alpha = 2 * r * alpha * beta * cos_D
    d_beta = r * alpha**2 * cos_D
    d_D = -r * (4 * beta + alpha**2 / beta) * sin_D
    if len(y) == 3:
        return d_alpha, d_beta, d_D
    return d_alpha, d_beta, d_D, -2 * r * beta * sin_D, r * alpha**2 * sin_D / beta


def invariants(
    alpha: Float[ArrayLike, "*batch"],
    beta: Float[ArrayLike, "*batch"],
    D: Float[ArrayLike, "*batch"],
) -> tuple[Float[Array, "*batch"], Float[Array, "*batch"]]:
    """The two conserved quantities of the per-frequency ODE.

    **Arguments:**

    - `alpha`, `beta`, `D`: states (broadcast together).

    **Returns:**

    `(I1, I2) = (alpha^2 - 2 beta^2, alpha^2 beta sin D)`.
    """
    alpha, beta, D = jnp.broadcast_arrays(*(jnp.asarray(x, float) for x in (alpha, beta, D)))
    return alpha**2 - 2 * beta**2, alpha**2 * beta * jnp.sin(D)


# ---------------------------------------------------------------------------------------------
# The scaled variables (log a, log b, ell[, phi, psi]) in tau = r s t.
# ---------------------------------------------------------------------------------------------

# Clipped exponents keep trial stages finite: an overflow would give inf - inf = NaN in the
# error estimate, which the PID controller cannot recover from (dt becomes NaN).
_EXP_MAX = 600.0


def _magnitudes(y):
    """`b` and `a^2/b` of a scaled state, with clipped exponents."""
    b = jnp.exp(jnp.clip(y[1], -_EXP_MAX, _EXP_MAX))
    a2_b = jnp.exp(jnp.clip(2 * y[0] - y[1], -_EXP_MAX, _EXP_MAX))
    return b, a2_b


class Frame(eqx.Module):
    """The constants of one trajectory's scaled variables (the `args` of its solve).

    `s = beta0` scales magnitudes (`tau = r s t`); `sigma` is the half-plane sign of `D`;
    `at_pi` marks `D0 = pi` (mod 2pi), the fixed point where `ell` would be `+inf`: there
    `ell` is held at 0 and `D = pi` exactly.
    """

    s: Float[Array, ""]
    sigma: Float[Array, ""]
    at_pi: Array


def scaled_vector_field(tau, y, frame: Frame):
    """The per-frequency ODE in `tau = r s t` for `(log a, log b, ell[, phi, psi])`."""
    del tau
    b, a2_b = _magnitudes(y)
    tanh = jnp.where(frame.at_pi, 1.0, jnp.tanh(y[2]))  # = -cos D
    d = [-2 * b * tanh, -a2_b * tanh, jnp.where(frame.at_pi, 0.0, -(4 * b + a2_b))]
    if y.shape[0] == 5:
        sin_D = jnp.where(frame.at_pi, 0.0, frame.sigma / jnp.cosh(y[2]))
        d += [-2 * b * sin_D, a2_b * sin_D]
    return jnp.stack(d)


def scaled_initial_state(alpha0, beta0, D0) -> tuple[Frame, Float[Array, "3"]]:
    """The frame of a trajectory and its scaled initial state `(log a0, 0, ell0)`."""
    sin_D0, cos_D0, sigma = angles(D0, jnp)
    at_pi = is_pi(D0, jnp)
    ell0 = jnp.where(at_pi, 0.0, ell_of(sin_D0, cos_D0, jnp))
    log_a0 = jnp.log(alpha0) - jnp.log(beta0)
    return Frame(beta0, sigma, at_pi), jnp.stack([log_a0, jnp.zeros_like(log_a0), ell0])


def natural_state(y, frame: Frame) -> ReducedState:
    """The `ReducedState` of a scaled state `y` (phases when `y` has 5 components)."""
    phi, psi = (wrap_angle(y[3]), wrap_angle(y[4])) if y.shape[0] == 5 else (None, None)
    D = jnp.where(
        frame.at_pi, jnp.remainder(jnp.pi, 2 * jnp.pi), D_from_ell(y[2], frame.sigma, jnp)
    )
    s = frame.s
    return ReducedState(s * jnp.exp(y[0]), s * jnp.exp(y[1]), D, phi, psi)


def guard_condition(y, log_beta_max):
    """Positive while `b` is in `[1/beta_max^2, beta_max]`; falls through 0 when it leaves.

    Both parts have slopes of order one in scaled time (near blow-up `a^2/b^2 -> 2`).
    """
    b, a2 = jnp.exp(y[1]), jnp.exp(2 * y[0])
    upper = 1 / b - jnp.exp(-log_beta_max)
    lower = (b - jnp.exp(-2 * log_beta_max)) / (1 + a2)
    return jnp.minimum(upper, lower)


def _aligned_condition(event: Aligned, tau, y, frame: Frame):
    b, a2_b = _magnitudes(y)
    distance = (y[2] - ell_aligned(event.delta, jnp)) / (4 * b + a2_b)
    return jnp.where(frame.at_pi, 1.0, distance)


def _magnitude_condition(event: MagnitudeAbove, tau, y, frame: Frame):
    # 1 / magnitude falls about linearly near the blow-up: a slope of order one.
    return jnp.exp(-jnp.maximum(y[0], y[1])) - frame.s / event.level


def _blowup_condition(event: BlowUp, tau, y, frame: Frame):
    return guard_condition(y, jnp.log(event.beta_max))


CONDITIONS = {
    Aligned: _aligned_condition,
    MagnitudeAbove: _magnitude_condition,
    BlowUp: _blowup_condition,
}


@eqx.filter_jit
def _solve_flat(x, events, r, save_ts, t1_shared, rule, fn, options, chunk_size):
    """Solve flat batches: `x` holds `alpha0, beta0, D0` (and `phi0, psi0`), `events` the
    per-element events."""

    has_aligned = any(isinstance(e, Aligned) for e in events)

    def single(args):
        x, events = args
        t1 = x["t1"] if "t1" in x else t1_shared
        frame, y0 = scaled_initial_state(x["alpha0"], x["beta0"], x["D0"])
        if "phi0" in x:
            y0 = jnp.concatenate([y0, jnp.stack([x["phi0"], x["psi0"]])])
        k = r * frame.s  # tau = k t

        def save(tau, y, args):
            state = natural_state(y, frame)
            return state if fn is None else fn(tau / k, state, r)

        already = initial_stops(events, CONDITIONS, 0.0, y0, frame)
        stop0 = jnp.any(jnp.stack(already)) if events else jnp.array(False)
        # Solving for alignment from pi, with no end time, would run forever: stop at once.
        hopeless = frame.at_pi & has_aligned & jnp.isinf(t1)
        tau1 = jnp.where(stop0 | hopeless, 0.0, k * t1)
        taus = None if save_ts is None else jnp.minimum(k * save_ts, tau1)
        sol = options.diffeqsolve(
            dfx.ODETerm(scaled_vector_field),
            0.0,
            tau1,
            y0,
            frame,
            with_stop(rule, taus, save),
            diffrax_event(events, CONDITIONS, options.event_rtol),
        )
        (tau_saved, ys), (_, ys_at_stop), (tau_end, y_end) = zip(sol.ts, sol.ys, strict=True)
        tau_stop = tau_end[0]
        result = from_diffrax(sol.result)
        mask = sol.event_mask if events else ()
        if events:
            mask = tuple(jnp.where(stop0, a, m) for a, m in zip(already, mask, strict=True))
            result = where(stop0, Outcome.event, result)
        if any(isinstance(e, Aligned) for e in events):
            result = where(frame.at_pi, Outcome.never_aligns, result)
        # Completed solves end at t1 exactly (no round trip through tau).
        t_stop = jnp.where(result == Outcome.successful, t1, tau_stop / k)
        t_stop = jnp.where(stop0, 0.0, t_stop)
        ys = hold_after_stop(ys, tau_saved, tau_stop, jax.tree.map(lambda a: a[0], ys_at_stop))
        stats = {k_: sol.stats[k_] for k_ in ("num_steps", "num_accepted_steps")}
        y_stop = natural_state(y_end[0], frame)
        return tau_saved / k, ys, result, stats, t_stop, y_stop, tuple(mask)

    return chunked(jax.vmap(single), (x, events), chunk_size)


def solve_reduced(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    ts: Float[ArrayLike, " T"] | None = None,
    *,
    reduction: Reduction = "sum",
    phases: tuple[Float[ArrayLike, "*batch"], Float[ArrayLike, "*batch"]] | None = None,
    t1: float | None = None,
    saveat: dfx.SaveAt | None = None,
    event=BlowUp(1e6),
    solver: dfx.AbstractSolver | None = None,
    stepsize_controller: dfx.AbstractStepSizeController | None = None,
    dt0: float | None = None,
    max_steps: int = 4096,
    adjoint: dfx.AbstractAdjoint | None = None,
    progress_meter: dfx.AbstractProgressMeter | None = None,
    throw: bool = True,
    event_rtol: float = 1e-13,
    chunk_size: int | None = 1024,
) -> ReducedSolution:
    """Integrate the per-frequency ODE (eq. 6.1) from one or many initial states.

    Internally the scaled variables `(log a, log b, log tan(|D|/2))` are integrated in time
    `tau = r beta0 t` (Tsit5 + PID by default), so the controller's `rtol`/`atol` are
    relative tolerances on `alpha`, `beta` and `tan(D/2)`. The solve runs from `t = 0` to the
    last save time (or `t1`), or stops at the first event.

    **Arguments:**

    - `alpha0`, `beta0`: input/output magnitudes at t=0 (positive).
    - `D0`: phase difference `2 phi - psi` at t=0, any real (taken mod 2pi).
    - `p`: the modulus (odd, >= 3).
    - `ts`: save times (1-D, non-decreasing, `>= 0`); or give `saveat`.
    - `reduction`: `"sum"` (rate `p`) or `"mean"` (rate `1/p`).
    - `phases`: optional `(phi0, psi0)`; then the phases are integrated too.
    - `t1`: the end time (default: the last save time; `inf` with events and no save times);
      an array broadcasting with the states gives each its own end time (then only the end
      is saved).
    - `saveat`: a `diffrax.SaveAt` (`ts`, `t0`, `t1`, `steps`, and `fn(t, state, r)` of the
      `ReducedState` for a statistic); default `SaveAt(ts=ts)`.
    - `event`: one or several of `Aligned(delta)`, `MagnitudeAbove(level)` (on
      `max(alpha, beta)`) and `BlowUp(beta_max)` (default `BlowUp(1e6)`: `beta` left
      `[beta0/beta_max^2, beta0 beta_max]`); `None` for none. Thresholds may be arrays that
      broadcast with the states. An event whose condition holds at t=0 (e.g. a state that
      starts aligned) stops the solve at once.
    - `solver`, `stepsize_controller`, `dt0`, `max_steps`, `adjoint`, `progress_meter`,
      `throw`: Diffrax's (defaults `Tsit5()`, `PIDController(rtol=1e-6, atol=1e-8)`; the
      invariants then drift by about `rtol`: use `rtol=1e-10` for ~1e-9 conservation).
    - `event_rtol`: tolerance of the event times' root find.
    - `chunk_size`: batches larger than this are solved in sequential vmapped chunks (a
      cache-sized working set); `None` for one vmap.

    **Returns:**

    A `ReducedSolution`: `ys` a `ReducedState` (or the output of `saveat`'s `fn`) with fields
    `broadcast(alpha0, beta0, D0).shape + (len(ts),)`, `D` in [0, 2pi), `phi, psi` in
    (-pi, pi]; after a stop the values hold the state at `t_stop`. With an `Aligned` event,
    `D0 = pi` (mod 2pi) gives `Outcome.never_aligns`.
    """
    p = check_reduced_state(alpha0, beta0, D0, p, reduction)
    rule = saving_rule(saveat, ts)
    save_ts = None if rule.ts is None else check_times(rule.ts, "ts", start=0.0)
    events = as_events(event, (Aligned, MagnitudeAbove, BlowUp))
    per_state_t1 = t1 is not None and np.ndim(t1) > 0
    if per_state_t1:  # one end time per state: saved at the end only
        if rule.ts is not None or rule.steps:
            raise ValueError("a `t1` per state saves only at the end: give no `ts` (or steps).")
        check_finite(t1, "t1", "end times >= 0")
        if np.any(np.asarray(t1) < 0):
            raise ValueError(f"`t1` must be >= 0; got t1={t1!r}.")
        rule = dfx.SubSaveAt(t1=True, fn=rule.fn)
    else:
        t1 = end_time(0.0, t1, save_ts, bool(events))
    chunk_size = check_chunk_size(chunk_size)
    options = solver_options(
        solver=solver,
        stepsize_controller=stepsize_controller,
        dt0=dt0,
        max_steps=max_steps,
        adjoint=adjoint,
        progress_meter=progress_meter,
        throw=throw,
        event_rtol=event_rtol,
        default_controller=dfx.PIDController(rtol=1e-6, atol=1e-8),
        what="solve_reduced",
        saveat=saveat,
    )
    names = ["alpha0", "beta0", "D0"] + ([] if phases is None else ["phi0", "psi0"])
    values = [alpha0, beta0, D0] + ([] if phases is None else list(phases))
    if per_state_t1:
        names, values = names + ["t1"], values + [t1]
    for name, v in zip(names[3:], values[3:], strict=True):
        check_finite(v, name)
    arrays = jnp.broadcast_arrays(*(jnp.asarray(v, dtype=float) for v in values))
    shape = arrays[0].shape
    for e in events:
        if isinstance(e, MagnitudeAbove):
            _check_level_above_start(e.level, arrays[0], arrays[1])
    try:
        flat_events = jax.tree.map(lambda a: jnp.broadcast_to(a, shape).reshape(-1), events)
    except ValueError:
        raise ValueError(
            f"event thresholds must broadcast with the states' shape {shape}."
        ) from None
    x = {n: a.reshape(-1) for n, a in zip(names, arrays, strict=True)}
    r = jnp.asarray(reduced_rate(p, reduction), dtype=float)  # traced: one compile for every p
    ts_out, ys, result, stats, t_stop, y_stop, mask = _solve_flat(
        x, flat_events, r, save_ts, None if per_state_t1 else t1, rule, user_function(rule),
        options, chunk_size,
    )  # fmt: skip
    unflat = lambda a: a.reshape(shape + a.shape[1:])  # noqa: E731
    return ReducedSolution(
        ts=save_ts if only_times(rule) else unflat(ts_out),
        ys=jax.tree.map(unflat, ys),
        result=jax.tree.map(unflat, result),
        stats=jax.tree.map(unflat, stats),
        t_stop=unflat(t_stop),
        y_stop=jax.tree.map(unflat, y_stop),
        event_mask=tuple(unflat(m) for m in mask),
        events=events,
    )


def _check_level_above_start(level, alpha0, beta0):
    try:
        level, start = np.asarray(level), np.asarray(jnp.maximum(alpha0, beta0))
    except Exception:  # traced
        return
    if np.any(np.broadcast_to(level, np.broadcast_shapes(level.shape, start.shape)) <= start):
        raise ValueError(
            "`MagnitudeAbove.level` must exceed the initial magnitude max(alpha0, beta0) "
            f"({start.max():.3g} at most); got level={level!r}."
        )
