"""Events: values that stop a solve, and their translation into a Diffrax `Event`.

An event is a small Module holding its threshold as an array, so a new threshold is new data,
not a recompilation. What the threshold is compared with depends on the dynamics (a network's
weights, or the per-frequency state), so each solver supplies one *condition* per event type:
a function `condition(event, t, y, args)` that is positive before the event and crosses zero,
with a slope of order one, where it happens. `diffrax_event` turns the events into one
`diffrax.Event` whose root find is safe under `jax.vmap`.

Why a root finder of our own: under `vmap`, Diffrax runs the event's root find for every
element of the batch, also those whose event did not fire (their condition is replaced by one
whose root is the end of the last step, `f(upper) = 0`). `optimistix.Bisection` rejects such an
interval ("The root is not contained in [lower, upper]") whatever `throw` says, so a batch in
which some elements stop on an event and others do not failed as a whole. The bisection below
accepts a root at an endpoint and never raises: every element gets what it gets alone.
"""

from collections.abc import Callable, Sequence
from typing import Any

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import optimistix as optx
from jaxtyping import Array, ArrayLike, Bool, Float

__all__ = ["AbstractEvent", "Aligned", "BlowUp", "MagnitudeAbove"]


def _threshold(value, name: str, low: float, high: float, what: str) -> Array:
    """The threshold as a float array; concrete values are checked against (low, high)."""
    if isinstance(value, jax.core.Tracer):  # a traced threshold: nothing to check now
        return jnp.asarray(value, dtype=float)
    try:
        concrete = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a float or an array of floats; got {value!r}.") from None
    if not np.all((concrete > low) & (concrete < high)):
        raise ValueError(f"`{name}` must lie in ({low}, {high}) ({what}); got {name}={value!r}.")
    # NumPy, not jax.numpy: a default made at import time must not be fixed to float32 before
    # the program enables x64 (a NumPy array is still traced data in a solve).
    return concrete


class AbstractEvent(eqx.Module):
    """An event that stops a solve. Subclasses hold their threshold as an array field."""


class Aligned(AbstractEvent):
    """Phase alignment at tolerance `delta`: `|sin D| <= delta` on the aligned side.

    For the per-frequency ODE this is the alignment time `t_delta` (the first time
    `B <= arcsin(delta)` after the turning point). For a network (`solve_exact`, `solve_main`)
    it fires when every neuron is aligned: `max_m |sin D_m| <= delta`, with `D_m` taken at each
    neuron's dominant frequency (`argmax_k beta_k`).

    **Fields:**

    - `delta`: the tolerance, in (0, 1) (an array: may differ per batch element).
    """

    delta: Float[Array, "*batch"]

    def __init__(self, delta: Float[ArrayLike, "*batch"]):
        self.delta = _threshold(delta, "delta", 0.0, 1.0, "a tolerance on |sin D|")


class MagnitudeAbove(AbstractEvent):
    """The magnitude reaches `level`: the end of the initial stage, `C_end` (Thm 5.2).

    For a network: `max |weights| >= level` (over `theta` and `xi`). For the per-frequency ODE:
    `max(alpha, beta) >= level` (`alpha` is the larger once the magnitudes grow).

    **Fields:**

    - `level`: the threshold, > 0 and above the initial magnitude.
    """

    level: Float[Array, "*batch"]

    def __init__(self, level: Float[ArrayLike, "*batch"]):
        self.level = _threshold(level, "level", 0.0, np.inf, "a magnitude")


class BlowUp(AbstractEvent):
    """A guard against the finite-time blow-up: the magnitude grew by a factor `beta_max`.

    For a network: `max |weights| >= beta_max * max |weights(0)|`. For the per-frequency ODE:
    `beta` leaves `[beta0 / beta_max^2, beta0 * beta_max]` (the lower end catches the collapse
    of `beta` towards 0 that the ODE cannot pass, at `D = pi` with `alpha0^2 > 2 beta0^2`).

    **Fields:**

    - `beta_max`: the growth factor, > 1.
    """

    beta_max: Float[Array, "*batch"]

    def __init__(self, beta_max: Float[ArrayLike, "*batch"]):
        self.beta_max = _threshold(beta_max, "beta_max", 1.0, np.inf, "a growth factor")


def as_events(event: Any, allowed: Sequence[type]) -> tuple[AbstractEvent, ...]:
    """`event=` as a tuple of events (`None`: none), each of a type in `allowed`."""
    if event is None:
        return ()
    events = tuple(event) if isinstance(event, list | tuple) else (event,)
    for e in events:
        if not isinstance(e, tuple(allowed)):
            names = ", ".join(t.__name__ for t in allowed)
            raise TypeError(
                f"`event` must be one or several of fourierflow.{{{names}}}; "
                f"got {type(e).__name__}."
            )
    return events


def event_mask_of(events: Sequence[AbstractEvent], event_type: type, mask) -> Bool[Array, "..."]:
    """Whether an event of `event_type` stopped the solve, from Diffrax's per-event `mask`."""
    hits = [m for e, m in zip(events, mask, strict=True) if isinstance(e, event_type)]
    if not hits:
        return jnp.zeros((), bool)
    return jnp.any(jnp.stack(jnp.broadcast_arrays(*hits)), axis=0)


class _Condition(eqx.Module):
    # A Module, not a closure: the event's threshold stays a traced array of the solve.
    event: AbstractEvent
    fn: Callable = eqx.field(static=True)

    def __call__(self, t, y, args, **kwargs):
        del kwargs
        return self.fn(self.event, t, y, args)


def diffrax_event(
    events: Sequence[AbstractEvent],
    conditions: dict[type, Callable],
    rtol: float | Array,
) -> dfx.Event | None:
    """One `diffrax.Event` for `events`, each condition given by `conditions[type(event)]`.

    Every condition is positive before its event and falls through zero when it happens; the
    event time is root-found by a vmap-safe bisection to `rtol` (relative, and absolute at
    `rtol` too).
    """
    if not events:
        return None
    conds = tuple(_Condition(e, conditions[type(e)]) for e in events)
    return dfx.Event(conds, _EventBisection(rtol, rtol), direction=False)


def initial_stops(events, conditions: dict[type, Callable], t0, y0, args) -> tuple:
    """Per event, whether it has already happened at the initial state: its condition is not
    positive there (e.g. a state that starts aligned). Diffrax only sees sign changes, so the
    solves stop at `t0` on these themselves."""
    return tuple(conditions[type(e)](e, t0, y0, args) <= 0 for e in events)


class _BisectionState(eqx.Module):
    lower: Float[Array, ""]
    upper: Float[Array, ""]
    flip: Bool[Array, ""]
    done: Bool[Array, ""]


def _summed(fn):
    # Diffrax root-finds on the PyTree of every condition, each zeroed except the one that
    # fired: their sum is that one condition.
    def summed(y, args):
        out, aux = fn(y, args)
        return sum(jtu.tree_leaves(out)), aux

    return summed


class _EventBisection(optx.AbstractRootFinder):
    """Bisection on `[lower, upper]` that accepts a root at either end and never raises.

    Without a sign change (no event in this element; Diffrax then puts the root at `upper`)
    it returns the end point where `|f|` is smaller. Terminates on the interval's width only:
    the conditions are scaled to slope ~1, but a width test needs no scale at all.
    """

    rtol: Any
    atol: Any
    norm: Callable = eqx.field(static=True, default=optx.max_norm)

    def init(self, fn, y, args, options, f_struct, aux_struct, tags):
        del y, f_struct, aux_struct, tags
        fn = _summed(fn)
        lower, upper = jnp.asarray(options["lower"]), jnp.asarray(options["upper"])
        f_lower, _ = fn(lower, args)
        f_upper, _ = fn(upper, args)
        bracket = (f_lower < 0) != (f_upper < 0)
        # No sign change: collapse onto the end point nearer to a root.
        at_upper = jnp.abs(f_upper) <= jnp.abs(f_lower)
        end = jnp.where(at_upper, upper, lower)
        lower = jnp.where(bracket, lower, end)
        upper = jnp.where(bracket, upper, end)
        return _BisectionState(lower, upper, f_lower > f_upper, jnp.array(False))

    def step(self, fn, y, args, options, state, tags):
        del y, options, tags
        mid = state.lower + 0.5 * (state.upper - state.lower)
        f_mid, aux = _summed(fn)(mid, args)
        negative = state.flip ^ (f_mid < 0)
        lower = jnp.where(negative, mid, state.lower)
        upper = jnp.where(negative, state.upper, mid)
        y_new = lower + 0.5 * (upper - lower)
        width = jnp.abs(upper - lower)
        done = width <= self.atol + self.rtol * jnp.abs(y_new)
        return y_new, _BisectionState(lower, upper, state.flip, done), aux

    def terminate(self, fn, y, args, options, state, tags):
        del fn, y, args, options, tags
        return state.done, optx.RESULTS.successful

    def postprocess(self, fn, y, aux, args, options, state, tags, result):
        del fn, args, options, state, tags, result
        return y, aux, {}
