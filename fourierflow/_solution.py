"""The result types of the solves: one per kind of solve, all sharing one shape.

Every solution has Diffrax's fields `ts`, `ys`, `result` (here an `Outcome`) and `stats`, and
the fields of a solve that events can stop: `t_stop`, `y_stop`, `event_mask` (one boolean per
event passed, in order) and `events`. The rule after a stop is the same everywhere: saved
values at times the solve did not reach hold the state at `t_stop`, and `valid` says which
saved times were reached. Batched solves put the batch axes first, then the time axis.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PyTree

from ._events import AbstractEvent, event_mask_of
from ._outcome import Outcome, is_ok

__all__ = [
    "AbstractSolution",
    "AlignmentSolution",
    "DominanceSolution",
    "FlowSolution",
    "ReducedSolution",
    "ReducedState",
]


class AbstractSolution(eqx.Module):
    """The fields and rules shared by every solution.

    **Fields:**

    - `ts`: the saved times, `(*batch, T)` (or `(T,)` shared by the batch).
    - `ys`: what was saved at `ts`, each leaf `(*batch, T, ...)`.
    - `result`: the `fourierflow.Outcome` of each element, `(*batch,)`.
    - `stats`: solver statistics, at least `num_steps`, each `(*batch,)`.
    - `t_stop`: when the solve ended (its end time, an event time, or where it failed).
    - `y_stop`: the state at `t_stop`.
    - `event_mask`: one boolean array `(*batch,)` per event passed, in order: which stopped it.
    - `events`: the events passed (their thresholds).
    """

    ts: Float[Array, "*batch T"]
    ys: PyTree
    result: Outcome
    stats: dict[str, Int[Array, "*batch"]]
    t_stop: Float[Array, "*batch"]
    y_stop: PyTree
    event_mask: tuple[Bool[Array, "*batch"], ...]
    events: tuple[AbstractEvent, ...]

    @property
    def valid(self) -> Bool[Array, "*batch T"]:
        """Whether each saved time was reached (`ts <= t_stop`)."""
        return jnp.less_equal(*jnp.broadcast_arrays(self.ts, jnp.asarray(self.t_stop)[..., None]))

    @property
    def ok(self) -> Bool[Array, "*batch"]:
        """Whether each element ended well: `Outcome.successful` or `Outcome.event`."""
        return is_ok(self.result)

    def stopped_by(self, event_type: type[AbstractEvent]) -> Bool[Array, "*batch"]:
        """Whether an event of this type (e.g. `fourierflow.Aligned`) stopped the solve.

        **Arguments:**

        - `event_type`: an event class.

        **Returns:**

        A boolean array of the batch shape (`False` everywhere if no such event was passed).
        """
        return event_mask_of(self.events, event_type, self.event_mask)

    def event_time(self, event_type: type[AbstractEvent]) -> Float[Array, "*batch"]:
        """`t_stop` where an event of this type stopped the solve, else `inf`.

        **Arguments:**

        - `event_type`: an event class.

        **Returns:**

        The event times, of the batch shape.
        """
        return jnp.where(self.stopped_by(event_type), self.t_stop, jnp.inf)


class FlowSolution(AbstractSolution):
    """A solve of the exact gradient flow or the main flow (`solve_exact`, `solve_main`).

    `ys` is a `TwoLayerNet` with a leading time axis, or what `saveat`'s `fn` returns (e.g. a
    `fourierflow.Spectrum`); `y_stop` is the network at `t_stop`. Fields as in
    `AbstractSolution`.
    """


class ReducedState(eqx.Module):
    """A state of the per-frequency ODE in its natural variables.

    **Fields:**

    - `alpha`, `beta`: input/output magnitudes.
    - `D`: the phase difference `2 phi - psi`, in [0, 2pi).
    - `phi`, `psi`: the phases, in (-pi, pi] (`None` unless asked for).
    """

    alpha: Float[Array, "..."]
    beta: Float[Array, "..."]
    D: Float[Array, "..."]
    phi: Float[Array, "..."] | None = None
    psi: Float[Array, "..."] | None = None


class ReducedSolution(AbstractSolution):
    """A solve of the per-frequency ODE (`solve_reduced`).

    `ts` is `(T,)`, shared by the batch; `ys` a `ReducedState` whose fields are
    `(*batch, T)` (or what `saveat`'s `fn` returns); `y_stop` the `ReducedState` at `t_stop`.
    Fields as in `AbstractSolution`.
    """


class AlignmentSolution(AbstractSolution):
    """The per-frequency ODE solved to its alignment event (`solve_alignment`).

    `ts` is `(*batch, 1)`: the alignment time `t_delta` (`0` if already aligned, `inf` if it
    was not reached: `Outcome.never_aligns` at `D0 = pi`, or a failure); `ys` the
    `ReducedState` there, `(*batch, 1)`; `t_stop`, `y_stop` where the solve ended (`t_delta`,
    or where it failed). `event_mask` is `(aligned,)` for the `Aligned(delta)` event.
    """


class DominanceSolution(AbstractSolution):
    """A multi-frequency neuron run to frequency dominance (`solve_dominance`).

    `ts` is `(*batch, 1)`: the dominance time `t_eps` (`inf` if not reached); `ys` the
    `ReducedState` of every frequency there, `(*batch, 1, K)`; `winner` the 1-based frequency
    `argmin_k B_k(0)`. `event_mask` is `(guard,)`: whether the `BlowUp` guard stopped the solve
    before dominance (which is `Outcome.event` without the guard). Fields as in
    `AbstractSolution`.
    """

    winner: Int[Array, "*batch"]


def hold_after_stop(values: PyTree, times, t_stop, values_at_stop: PyTree) -> PyTree:
    """The rule after a stop: saved values at times past `t_stop` hold the value at `t_stop`
    (Diffrax leaves them `inf`).

    **Arguments:**

    - `values`: a PyTree of arrays with a leading time axis `(T, ...)`.
    - `times`: the saved times `(T,)` (`inf` where Diffrax saved nothing).
    - `t_stop`: the time the solve stopped (a scalar).
    - `values_at_stop`: the same PyTree without the time axis, at `t_stop`.

    **Returns:**

    `values` with every time past `t_stop` replaced by `values_at_stop`.
    """
    reached = times <= t_stop

    def hold(a, a_stop):
        mask = reached.reshape(reached.shape + (1,) * (a.ndim - 1))
        return jnp.where(mask, a, jnp.asarray(a_stop)[None])

    return jax.tree.map(hold, values, values_at_stop)
