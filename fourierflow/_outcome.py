"""`Outcome`: the status of every solve, sweep element, stored result and training run.

This module is the one place that knows how an `Outcome` is encoded: it builds outcomes from
Diffrax's `RESULTS`, selects between them elementwise, and converts them to and from the names
under which files store them. Everywhere else compares outcomes with `==`, as Diffrax's
`sol.result == diffrax.RESULTS.successful`.
"""

from collections.abc import Sequence

import diffrax as dfx
import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Bool

__all__ = ["Outcome"]


class Outcome(eqx.Enumeration):
    """How a solve (or a sweep element, a stored result, a training run) ended.

    Compare with `==`, e.g. `sol.result == fourierflow.Outcome.event`; `Outcome[item]` is the
    message (one per element for a batch). `successful` and `event` are the two good ends:
    `fourierflow.Outcome` results are stored in files by these names.
    """

    successful = "completed without an event (a solve reached its end time, a run its last step)"
    event = "stopped on one of its events (the solution's `event_mask` says which)"
    never_aligns = (
        "D0 = pi (mod 2pi) is the unstable fixed point of the per-frequency ODE: the phase "
        "difference never moves, so it never aligns (the time is inf)"
    )
    no_unique_winner = (
        "two or more frequencies share the smallest initial misalignment B_k(0): their "
        "magnitudes stay equal, so none dominates (the time is inf)"
    )
    max_steps_reached = (
        "the ODE solver reached `max_steps` before the end or an event; raise `max_steps`"
    )
    nonfinite = "a value became NaN or infinite (for training: lower the learning rate)"
    solver_failed = "the ODE solver failed (step size underflow or an internal failure)"
    missing = "not computed: the element belongs to a part of a sweep that is absent"


Outcome.__module__ = "fourierflow"  # shown in reprs as the public name


def _item(codes) -> Outcome:
    # An outcome of any batch shape: an item whose integer value is replaced by `codes`.
    return eqx.tree_at(lambda o: o._value, Outcome.successful, codes)


def _codes(outcome: Outcome):
    if not isinstance(outcome, Outcome):
        raise TypeError(f"expected a fourierflow.Outcome; got {type(outcome).__name__}.")
    return outcome._value


def full(shape: Sequence[int], outcome: Outcome) -> Outcome:
    """`outcome` broadcast to `shape` (a batch of one outcome)."""
    return _item(jnp.full(tuple(shape), _codes(outcome), dtype=jnp.int32))


def where(pred: Bool[ArrayLike, "*batch"], a: Outcome, b: Outcome) -> Outcome:
    """Elementwise `a` where `pred` else `b` (`Outcome.where` takes only scalar predicates)."""
    return _item(jnp.where(pred, _codes(a), _codes(b)).astype(jnp.int32))


def from_diffrax(result: dfx.RESULTS) -> Outcome:
    """The `Outcome` of a Diffrax `RESULTS` (any batch shape).

    `successful` -> `successful`; `event_occurred` -> `event`; `max_steps_reached`,
    `max_steps_rejected` -> `max_steps_reached`; `nonfinite`, `nonfinite_input`,
    `nonlinear_divergence` -> `nonfinite`; every other failure -> `solver_failed`.
    """
    if isinstance(result, Outcome):
        return result
    R = dfx.RESULTS
    table = [
        ((R.successful,), Outcome.successful),
        ((R.event_occurred,), Outcome.event),
        ((R.max_steps_reached, R.max_steps_rejected), Outcome.max_steps_reached),
        ((R.nonfinite, R.nonfinite_input, R.nonlinear_divergence), Outcome.nonfinite),
    ]
    conditions, choices = [], []
    for items, outcome in table:
        hit = jnp.zeros(jnp.shape(result._value), bool)
        for item in items:
            hit = hit | (result == item)
        conditions.append(hit)
        choices.append(_codes(outcome))
    codes = jnp.select(conditions, choices, _codes(Outcome.solver_failed))
    return _item(codes.astype(jnp.int32))


def is_ok(outcome: Outcome) -> Bool[ArrayLike, "*batch"]:
    """Whether each element ended well: `successful` or `event`."""
    return (outcome == Outcome.successful) | (outcome == Outcome.event)


def names() -> tuple[str, ...]:
    """Every outcome name, in code order."""
    by_code = sorted(Outcome._name_to_item.items(), key=lambda kv: int(kv[1]._value))
    return tuple(name for name, _ in by_code)


def outcome_names(outcome: Outcome) -> np.ndarray:
    """The names of a (batch of) outcome(s), e.g. `"event"`, `"never_aligns"`.

    **Arguments:**

    - `outcome`: a `fourierflow.Outcome` of any batch shape (e.g. a solution's `result`).

    **Returns:**

    A NumPy string array of the same shape (how files store outcomes).
    """
    return np.asarray(names(), dtype=str)[np.asarray(_codes(outcome))]


def from_names(values: ArrayLike) -> Outcome:
    """Outcomes from their names (a string array, as `outcome_names` writes them).

    Raises `ValueError` naming any unknown name (e.g. a file from a newer version).
    """
    values = np.asarray(values, dtype=str)
    table = {name: code for code, name in enumerate(names())}
    unknown = sorted(set(np.unique(values).tolist()) - set(table))
    if unknown:
        raise ValueError(f"unknown outcome names {unknown}; known: {list(table)}.")
    lookup = np.vectorize(table.__getitem__, otypes=[np.int32])
    return _item(np.asarray(lookup(values) if values.size else np.zeros(values.shape, np.int32)))


def as_numpy(outcome: Outcome) -> Outcome:
    """The same outcome(s) with a NumPy value (for host-side results such as sweeps)."""
    return _item(np.asarray(_codes(outcome), dtype=np.int32))


def take(outcome: Outcome, index) -> Outcome:
    """`outcome[index]` for a batch of outcomes (NumPy indexing on its values)."""
    return _item(np.asarray(_codes(outcome))[index])


def concatenate(outcomes: Sequence[Outcome]) -> Outcome:
    """Join batches of outcomes along their first axis (NumPy)."""
    return _item(np.concatenate([np.asarray(_codes(o)).reshape(-1) for o in outcomes]))


def counts(outcome: Outcome) -> dict[str, int]:
    """How many elements have each outcome, by name (only the names that occur)."""
    values, number = np.unique(outcome_names(outcome).reshape(-1), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, number, strict=True)}


def message(name: str) -> str:
    """The message of the outcome called `name`."""
    return Outcome[getattr(Outcome, name)]


def worst(outcome: Outcome, axis: int = -1) -> Outcome:
    """The worst outcome along `axis`, in the declaration order of `Outcome` (`successful`
    best, then `event`, then the reasons for an infinite time, then the failures)."""
    return _item(jnp.max(_codes(outcome), axis=axis).astype(jnp.int32))


def to_codes(outcome: Outcome, names_in_file: Sequence[str]) -> np.ndarray:
    """Codes of `outcome` as indices into `names_in_file` (a categorical encoding for files:
    the names are stored with the codes, so a file never depends on this version's codes)."""
    position = {name: i for i, name in enumerate(names_in_file)}
    table = np.asarray([position.get(name, -1) for name in names()], dtype=np.int16)
    return table[np.asarray(_codes(outcome))].astype(np.uint8)


def from_codes(codes: ArrayLike, names_in_file: Sequence[str]) -> Outcome:
    """The inverse of `to_codes`: outcomes from a file's codes and its names."""
    return from_names(np.asarray(list(names_in_file), dtype=str)[np.asarray(codes)])
