"""Trace-time argument checks: a clear ValueError naming the argument, before compilation."""

import math
import warnings
from collections.abc import Sequence

import equinox as eqx
import numpy as np

REDUCTIONS = ("sum", "mean")


def is_prime(n: int) -> bool:
    """Whether the integer `n` is prime (trial division; `n` is small here)."""
    if n < 2:
        return False
    return all(n % d for d in range(2, math.isqrt(n) + 1))


def check_modulus(p, name: str = "p") -> int:
    """`p` must be an odd integer >= 3 (theory eqs. (1)-(2))."""
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
    """`reduction` must be "sum" or "mean" (theory eqs. (5)-(6))."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"`reduction` must be one of {REDUCTIONS}; got reduction={reduction!r}.")
    return reduction


def check_choice(value, name: str, allowed: Sequence[str]) -> str:
    """`value` must be one of `allowed`."""
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {tuple(allowed)}; got {name}={value!r}.")
    return value


def check_tolerance(value, name: str) -> float:
    """A relative tolerance: a real number in (0, 1), and above the resolution of JAX's
    default float (float32 when x64 is off)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a float in (0, 1); got {value!r}.") from None
    if not 0 < v < 1:
        raise ValueError(f"`{name}` must lie in (0, 1); got {name}={value!r}.")
    eps = float(np.finfo(default_float()).eps)
    if v < eps:
        raise ValueError(
            f"`{name}`={v:g} is below the resolution of {np.dtype(default_float()).name} "
            f"({eps:.2g}): enable float64 with jax.config.update('jax_enable_x64', True), "
            f"or ask for {name} >= {eps:.2g}."
        )
    return v


def check_absolute_tolerance(value, name: str) -> float:
    """An absolute tolerance: a finite real number >= 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a float >= 0; got {value!r}.") from None
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"`{name}` must be finite and >= 0; got {name}={value!r}.")
    return v


def default_float():
    """JAX's default floating dtype: float64 with x64 enabled, else float32."""
    import jax

    return np.float64 if jax.config.jax_enable_x64 else np.float32


_warned_float32 = False


def warn_if_float32(what: str) -> None:
    """Warn, once per process, that `what` runs in float32 because x64 is off."""
    global _warned_float32
    import jax

    if jax.config.jax_enable_x64 or _warned_float32:
        return
    _warned_float32 = True
    warnings.warn(
        f"fourierflow: {what} runs in float32 because JAX's x64 mode is off; the theory is "
        "checked in float64. Call jax.config.update('jax_enable_x64', True) at the start of "
        "the program (or set JAX_ENABLE_X64=1).",
        UserWarning,
        stacklevel=3,
    )


def check_instance(value, name: str, kind, description: str, *, optional: bool = True):
    """`value` must be an instance of `kind` (or `None` when `optional`)."""
    if value is None and optional:
        return value
    if not isinstance(value, kind):
        raise TypeError(f"`{name}` must be {description}; got {type(value).__name__}.")
    return value


def check_diffrax_options(
    *, solver, stepsize_controller, dt0, max_steps, adjoint, progress_meter, saveat, throw
) -> None:
    """The Diffrax arguments of a solve: their types, and `dt0` where a constant step needs
    it. Tolerances are checked with the step-size controller (`check_controller`)."""
    import diffrax as dfx

    check_instance(solver, "solver", dfx.AbstractSolver, "a diffrax solver (e.g. Tsit5())")
    check_instance(
        stepsize_controller,
        "stepsize_controller",
        dfx.AbstractStepSizeController,
        "a diffrax step-size controller (e.g. PIDController(rtol=1e-8, atol=1e-12))",
    )
    check_instance(adjoint, "adjoint", dfx.AbstractAdjoint, "a diffrax adjoint")
    check_instance(
        progress_meter, "progress_meter", dfx.AbstractProgressMeter, "a diffrax progress meter"
    )
    check_instance(saveat, "saveat", dfx.SaveAt, "a diffrax.SaveAt")
    check_positive_int(max_steps, "max_steps")
    if not isinstance(throw, bool):
        raise TypeError(f"`throw` must be a bool; got {type(throw).__name__} {throw!r}.")
    if dt0 is not None:
        check_positive(dt0, "dt0")
    elif isinstance(stepsize_controller, dfx.ConstantStepSize):
        raise ValueError("`dt0` must be given with a constant step (diffrax.ConstantStepSize).")


def check_controller(controller):
    """Check a step-size controller's tolerances (a PIDController's `rtol` in (0, 1) above
    the float resolution, `atol >= 0`) and return it with them as arrays, so that a new
    tolerance does not recompile the solve."""
    import diffrax as dfx
    import jax.numpy as jnp

    if not isinstance(controller, dfx.PIDController):
        return controller
    rtol = check_tolerance(controller.rtol, "stepsize_controller.rtol")
    atol = check_absolute_tolerance(controller.atol, "stepsize_controller.atol")
    dtype = default_float()
    return eqx.tree_at(
        lambda c: (c.rtol, c.atol),
        controller,
        (jnp.asarray(rtol, dtype), jnp.asarray(atol, dtype)),
    )


def check_finite(value, name: str, what: str = "any real") -> None:
    """Every entry of a concrete `value` must be finite (a tracer passes unchecked)."""
    try:
        arr = np.asarray(value, dtype=float)
    except TypeError:  # a tracer
        return
    except ValueError:
        raise TypeError(f"`{name}` must be an array of floats; got {value!r}.") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite ({what}); got {name}={value!r}.")


def check_reduced_state(alpha0, beta0, D0, p, reduction) -> int:
    """An initial state of the per-frequency ODE: magnitudes > 0, `D0` finite, odd `p >= 3`,
    a known reduction. Returns `p` as an int."""
    p = check_modulus(p)
    check_reduction(reduction)
    check_positive(alpha0, "alpha0")
    check_positive(beta0, "beta0")
    check_finite(D0, "D0", "any real, taken mod 2pi")
    return p


def check_times(ts, name: str = "ts", *, start: float | None = None):
    """Save times: a 1-D, non-empty, finite, non-decreasing array, `>= start` when given.
    Returns them as a float array (a traced `ts` passes unchecked)."""
    import jax.numpy as jnp

    try:
        arr = np.asarray(ts, dtype=float)
    except TypeError:  # traced
        return jnp.asarray(ts, dtype=float)
    except ValueError:
        raise TypeError(f"`{name}` must be an array of times; got {ts!r}.") from None
    if arr.ndim != 1 or arr.size < 1:
        raise ValueError(f"`{name}` must be a 1-D array of save times; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)) or np.any(np.diff(arr) < 0):
        raise ValueError(f"`{name}` must be finite and non-decreasing; got {name}={arr!r}.")
    if start is not None and arr[0] < start:
        raise ValueError(f"`{name}` must start at or after {start}; got {name}[0]={arr[0]}.")
    return jnp.asarray(arr, dtype=float)


def check_indices(values, name: str, high: int):
    """Integer indices in `[0, high)`: checked now when concrete (a `ValueError`/`TypeError`
    naming `name`), and at run time with `equinox.error_if` when traced, never clamped (JAX's
    gathers would silently clamp an index out of range). Returns the array."""
    import jax
    import jax.numpy as jnp

    if isinstance(values, jax.core.Tracer):
        if not jnp.issubdtype(values.dtype, jnp.integer):
            raise TypeError(f"`{name}` must hold integers; got dtype {values.dtype}.")
        bad = jnp.any((values < 0) | (values >= high))
        return eqx.error_if(values, bad, f"`{name}` must lie in [0, {high}).")
    arr = np.asarray(values)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"`{name}` must hold integers in [0, {high}); got dtype {arr.dtype}.")
    if arr.size and (arr.min() < 0 or arr.max() >= high):
        raise ValueError(
            f"`{name}` must lie in [0, {high}); got values from {arr.min()} to {arr.max()}."
        )
    return jnp.asarray(arr)
