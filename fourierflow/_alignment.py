"""The alignment time `t_delta` from a Diffrax solve that ends exactly at the event.

The alignment event is made the end point of the integration (Henon's trick): `ell =
log tan(|D|/2)` falls strictly monotonically (`ell' = -(4 beta + alpha^2/beta) r`), so it serves
as the independent variable from `ell0` down to `ell_delta = -arccosh(1/delta)`, and time
`tau` becomes a state. Rescaled to `u` in [0, 1], every element of a batch ends at `u = 1`, so
a batch is ONE ODE system (a max-norm step-size controller keeps every element within its
tolerances): no root find, no event check. Along the way `|d log beta / d ell| <= 1`, so
nothing can blow up before alignment. Chunks are formed in order of the span `ell0 - ell_delta`
(the solve's cost), so that the elements of a chunk need similar numbers of steps.
"""

import dataclasses
import math

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx

from ._checks import check_finite, check_in_open_interval, check_reduced_state
from ._chunking import alignment_chunk_size, check_chunk_size, chunked
from ._diffrax import solver_options
from ._events import Aligned
from ._fourier import wrap_angle
from ._outcome import Outcome, from_diffrax, is_ok, where
from ._phase_variable import D_from_ell, alignment_span, ell_aligned
from ._reduced_ode import scaled_initial_state
from ._solution import AlignmentSolution, ReducedState
from ._timescale import reduced_rate
from ._types import Array, ArrayLike, Float, Reduction

__all__ = ["alignment_time", "solve_alignment"]


def _vector_field(u, y, args):
    """The per-frequency ODE with `ell = ell0 + u L` as the independent variable, `u` in [0, 1].

    `y = (log a, log b, tau[, phi, psi])`. With `ell' = -b (4 + q)`, `q = a^2/b^2`, in scaled
    time: `d log a/d ell = 2 tanh(ell)/(4 + q)`, `d log b/d ell = q tanh(ell)/(4 + q)`,
    `d tau/d ell = -1/(b (4 + q))`, `d phi/d ell = 2 sin D/(4 + q)`,
    `d psi/d ell = -q sin D/(4 + q)` (`sin D = sigma sech(ell)`). The fractions in `q` are
    logistic functions of `log q`: finite for any state.
    """
    ell0, L, sigma = args
    ell = ell0 + u * L
    tanh = jnp.tanh(ell)
    log_q4 = 2 * (y[0] - y[1]) - math.log(4.0)
    w = jax.nn.sigmoid(log_q4)  # q / (4 + q)
    v = jax.nn.sigmoid(-log_q4) / 4  # 1 / (4 + q)
    d = [2 * tanh * v, tanh * w, -jnp.exp(-y[1]) * v]
    if y.shape[0] == 5:
        sin_D = sigma / jnp.cosh(ell)
        d += [2 * sin_D * v, -sin_D * w]
    return L[None] * jnp.stack(d)


class _Ends(eqx.Module):
    """Per element: the alignment time (inf if not reached), where the solve ended, the
    state there, its outcome and step count."""

    t_delta: Float[Array, " n"]
    t_stop: Float[Array, " n"]
    state: ReducedState
    result: Outcome
    num_steps: Array


def _batch(x, r, options) -> _Ends:
    """Solve a batch (1-D arrays in `x`) to alignment as ONE system: shared steps in `u`."""
    frame, y0 = scaled_initial_state(x["alpha0"], x["beta0"], x["D0"])  # y0: (3, m)
    ell_delta = ell_aligned(x["delta"], jnp)
    # L = ell_delta - ell0 < 0 from the span (one derivation for the solve and the chunk
    # order); 0 (stay put: the right-hand side vanishes) when already aligned or at pi.
    L = jnp.where(frame.at_pi, 0.0, -alignment_span(x["D0"], x["delta"], jnp))
    ell0 = ell_delta - L
    skip = L == 0
    phase0 = [x["phi0"], x["psi0"]] if "phi0" in x else []
    y0 = jnp.stack([y0[0], y0[1], jnp.zeros_like(ell0), *phase0])  # tau = 0 at u = 0
    sol = options.diffeqsolve(
        dfx.ODETerm(_vector_field), 0.0, 1.0, y0, (ell0, L, frame.sigma), dfx.SaveAt(t1=True), None
    )
    y1, u1 = sol.ys[-1], sol.ts[-1]
    result = from_diffrax(sol.result)
    aligned = result == Outcome.successful
    result = where(aligned, Outcome.event, result)
    result = where(frame.at_pi, Outcome.never_aligns, result)
    tau = y1[2]
    t_stop = jnp.where(frame.at_pi, 0.0, tau / (r * frame.s))
    t_delta = jnp.where(aligned & ~frame.at_pi, t_stop, jnp.inf)
    ell_end = jnp.where(aligned, ell_delta, ell0 + u1 * L)
    D_end = jnp.where(
        skip, jnp.remainder(x["D0"], 2 * jnp.pi), D_from_ell(ell_end, frame.sigma, jnp)
    )
    phi, psi = (wrap_angle(y1[3]), wrap_angle(y1[4])) if phase0 else (None, None)
    state = ReducedState(frame.s * jnp.exp(y1[0]), frame.s * jnp.exp(y1[1]), D_end, phi, psi)
    steps = jnp.broadcast_to(sol.stats["num_steps"], t_stop.shape)
    return _Ends(t_delta, t_stop, state, result, steps)


@eqx.filter_jit
def _solve_flat(x, r, options, chunk_size, shared_steps) -> _Ends:
    def alone(x):
        # Each element its own step sequence: a vmap over one-element systems.
        def one(x):
            out = _batch(jax.tree.map(lambda a: a[None], x), r, options)
            return jax.tree.map(lambda o: o[0], out)

        return jax.vmap(one)(x)

    def shared(x):
        # One system per chunk; should it fail (max_steps, say), its elements are solved
        # again alone, so that only the elements that fail by themselves report it.
        out = _batch(x, r, dataclasses.replace(options, throw=False))
        bad = ~is_ok(out.result) & (out.result != Outcome.never_aligns)
        return jax.lax.cond(jnp.any(bad), lambda: alone(x), lambda: out)

    n = x["D0"].shape[0]
    if not shared_steps:
        return chunked(alone, x, chunk_size)
    if chunk_size is None or n <= chunk_size:
        return shared(x)
    # Chunks of similar length in ell take similar steps: solve in order of the span (2x fewer
    # steps than random chunks on uniform D0), then put the results back in input order.
    order = jnp.argsort(alignment_span(x["D0"], x["delta"], jnp))
    out = chunked(shared, jax.tree.map(lambda a: a[order], x), chunk_size)
    inverse = jnp.argsort(order)
    return jax.tree.map(lambda o: o[inverse], out)


def solve_alignment(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    delta: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
    phases: tuple[Float[ArrayLike, "*batch"], Float[ArrayLike, "*batch"]] | None = None,
    solver: dfx.AbstractSolver | None = None,
    stepsize_controller: dfx.AbstractStepSizeController | None = None,
    dt0: float | None = None,
    max_steps: int = 4096,
    adjoint: dfx.AbstractAdjoint | None = None,
    progress_meter: dfx.AbstractProgressMeter | None = None,
    throw: bool = True,
    chunk_size: int | str | None = "auto",
    shared_steps: bool = True,
) -> AlignmentSolution:
    """Solve the per-frequency ODE until alignment, `B <= arcsin(delta)`, in one Diffrax solve
    per batch that ends exactly at the event.

    `ell = log tan(|D|/2)` falls strictly, so it is the independent variable of the solve (from
    its initial value down to `ell_delta = -arccosh(1/delta)`) and time is a state: the event
    is the solve's end point, so there is no root find, and a batch (every element ending at
    the same point) is one ODE system. Differentiable (through the solve). The solve's
    independent variable is not time, so it saves only its end point: for a trajectory use
    `solve_reduced(..., event=Aligned(delta))`.

    **Arguments:**

    - `alpha0`, `beta0`: initial magnitudes (> 0); `D0`: initial phase difference (any real).
    - `p`: the modulus (odd, >= 3); `delta`: tolerance in (0, 1), broadcast with the states.
    - `reduction`: `"sum"` (rate `p`) or `"mean"` (rate `1/p`).
    - `phases`: optional `(phi0, psi0)`; then the phases at alignment are returned too.
    - `solver`, `stepsize_controller`, `dt0`, `max_steps`, `adjoint`, `progress_meter`,
      `throw`: Diffrax's. Tolerances apply to `(log alpha, log beta, tau[, phi, psi])`;
      default `PIDController(rtol=1e-6, atol=1e-8)` (t_delta to about 1e-7 relative;
      `rtol=1e-10, atol=1e-12` gives about 1e-11). A `PIDController`'s norm is replaced by
      the max norm (every component, and with shared steps every element, meets the
      tolerances; the same for both modes, so the fallback of a failed chunk is the
      element's own solve).
    - `chunk_size`: elements per solve (sequential chunks, the last padded); `None` for one;
      `"auto"`: `alignment_chunk_size()` (4096 on CPU, 262144 on accelerators).
    - `shared_steps`: `True` (default, fastest): the elements of a chunk share one step
      sequence, so results depend on the chunk's other elements at the level of `rtol` (a
      chunk whose shared solve fails is solved again element by element, so a failure stays
      with the elements that fail alone); `False`: every element steps alone (a vmap; bitwise
      independent of the batch, ~5x slower on CPU). Pass batches rather than `jax.vmap`-ing
      this function: under vmap the fallback's `lax.cond` becomes a select that runs both
      branches.

    **Returns:**

    An `AlignmentSolution` of the broadcast shape: `ts[..., 0]` is `t_delta` (`0` if already
    aligned; `inf` for `Outcome.never_aligns` at `D0 = pi` (mod 2pi), or a failure).
    """
    p = check_reduced_state(alpha0, beta0, D0, p, reduction)
    check_in_open_interval(delta, "delta", 0.0, 1.0)
    chunk_size = alignment_chunk_size() if chunk_size == "auto" else check_chunk_size(chunk_size)
    if not isinstance(shared_steps, bool):
        raise TypeError(f"`shared_steps` must be a bool; got {shared_steps!r}.")
    controller = stepsize_controller
    if controller is None:
        controller = dfx.PIDController(rtol=1e-6, atol=1e-8)
    if isinstance(controller, dfx.PIDController):
        controller = eqx.tree_at(lambda c: c.norm, controller, optx.max_norm)
    options = solver_options(
        solver=solver,
        stepsize_controller=controller,
        dt0=dt0,
        max_steps=max_steps,
        adjoint=adjoint,
        progress_meter=progress_meter,
        throw=throw,
        event_rtol=1e-13,
        default_controller=controller,
        what="solve_alignment",
    )
    names = ["alpha0", "beta0", "D0", "delta"] + ([] if phases is None else ["phi0", "psi0"])
    values = [alpha0, beta0, D0, delta] + ([] if phases is None else list(phases))
    for name, v in zip(names[4:], values[4:], strict=True):
        check_finite(v, name)
    arrays = jnp.broadcast_arrays(*(jnp.asarray(v, dtype=float) for v in values))
    shape = arrays[0].shape
    x = {n: a.reshape(-1) for n, a in zip(names, arrays, strict=True)}
    r = jnp.asarray(reduced_rate(p, reduction), dtype=float)  # traced: one compile for every p
    ends = _solve_flat(x, r, options, chunk_size, shared_steps)
    unflat = lambda a: a.reshape(shape + a.shape[1:])  # noqa: E731
    ends = jax.tree.map(unflat, ends)
    at_time = lambda a: a[..., None]  # noqa: E731
    event = Aligned(x["delta"].reshape(shape))
    return AlignmentSolution(
        ts=at_time(ends.t_delta),
        ys=jax.tree.map(at_time, ends.state),
        result=ends.result,
        stats={"num_steps": ends.num_steps},
        t_stop=ends.t_stop,
        y_stop=ends.state,
        event_mask=(ends.result == Outcome.event,),
        events=(event,),
    )


def alignment_time(
    alpha0: Float[ArrayLike, "*batch"],
    beta0: Float[ArrayLike, "*batch"],
    D0: Float[ArrayLike, "*batch"],
    p: int,
    delta: Float[ArrayLike, "*batch"],
    *,
    reduction: Reduction = "sum",
    **kwargs,
) -> Float[Array, "*batch"]:
    """The alignment time `t_delta` from an event-terminated Diffrax solve:
    `solve_alignment(...).ts[..., 0]`.

    **Arguments:**

    - as `solve_alignment` (keyword options are passed on to it).

    **Returns:**

    `t_delta` of the broadcast shape: `0` if already aligned, `inf` if `D0 = pi` (mod 2pi)
    (`Outcome.never_aligns`) or the solve failed (`throw=False`); never NaN.
    """
    return solve_alignment(alpha0, beta0, D0, p, delta, reduction=reduction, **kwargs).ts[..., 0]
