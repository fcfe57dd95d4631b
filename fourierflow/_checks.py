"""Trace-time argument checks: a clear ValueError naming the argument, before compilation."""

import math
from collections.abc import Sequence

import numpy as np

REDUCTIONS = ("sum", "mean")


def is_prime(n: int) -> bool:
    """Whether the integer `n` is prime (trial division; `n` is small here)."""
    if n < 2:
        return False
    return all(n % d for d in range(2, math.isqrt(n) + 1))


def check_modulus(p, name: str = "p") -> int:
    """`p` must be an odd integer >= 3 (SPEC section 1)."""
    if isinstance(p, bool) or not isinstance(p, int | np.integer):
        raise TypeError(f"`{name}` must be a Python int (odd, >= 3); got {type(p).__name__} {p!r}.")
    p = int(p)
    if p < 3 or p % 2 == 0:
        raise ValueError(f"`{name}` must be an odd integer >= 3; got {name}={p}.")
    return p


def check_positive_int(value, name: str) -> int:
    """`value` must be an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"`{name}` must be an int >= 1; got {type(value).__name__} {value!r}.")
    if value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1; got {name}={value}.")
    return int(value)


def check_positive(value, name: str) -> None:
    """Every entry of `value` must be finite and > 0 (checked only for concrete values)."""
    try:
        arr = np.asarray(value, dtype=float)
    except Exception:  # a tracer: the value is not known at trace time
        return
    if not np.all(np.isfinite(arr) & (arr > 0)):
        raise ValueError(f"`{name}` must be finite and > 0; got {name}={value!r}.")


def check_nonnegative(value, name: str) -> None:
    """A concrete `value` must be a finite float >= 0 (a tracer passes unchecked)."""
    try:
        v = float(value)
    except TypeError:  # a tracer: the value is not known at trace time
        return
    except ValueError:
        raise TypeError(f"`{name}` must be a float >= 0; got {name}={value!r}.") from None
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"`{name}` must be finite and >= 0; got {name}={value!r}.")


def check_in_open_interval(value, name: str, low: float, high: float) -> None:
    """Every entry of concrete `value` must lie in the open interval (low, high)."""
    try:
        arr = np.asarray(value, dtype=float)
    except Exception:
        return
    if not np.all((arr > low) & (arr < high)):
        raise ValueError(f"`{name}` must lie in ({low}, {high}); got {name}={value!r}.")


def check_reduction(reduction) -> str:
    """`reduction` must be "sum" or "mean" (SPEC section 3)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"`reduction` must be one of {REDUCTIONS}; got reduction={reduction!r}.")
    return reduction


def check_choice(value, name: str, allowed: Sequence[str]) -> str:
    """`value` must be one of `allowed`."""
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {tuple(allowed)}; got {name}={value!r}.")
    return value
