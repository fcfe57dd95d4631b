"""The exact gradient flow, the main flow and their comparison with the per-frequency ODE.

SPEC sections 6-9 (paper Sections 5.3-5.5, Lemma B.3 / B.39, Thm 5.2). The flows are plain
Diffrax vector fields `f(t, net, args)` whose state is a `TwoLayerNet`; `solve_exact` and
`solve_main` integrate them with a chosen solver, saving rule and stopping events, and `compare`
runs the exact flow, the main flow and the reduced ODE side by side from one initialization.
"""

from collections.abc import Callable
from typing import Literal

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import optimistix as optx

from ._checks import (
    check_choice,
    check_nonnegative,
    check_positive,
    check_positive_int,
    check_reduction,
)
from ._types import Array, ArrayLike, Bool, Float, Int, Reduction
from ._data import FoldedPairs, Split, fold_pairs
from ._fourier import fourier_coefficients, wrap_angle
from ._metrics import neuron_spectrum
from ._network import TwoLayerNet, folded_loss

__all__ = [
    "Comparison",
    "FlowArgs",
    "FlowSolution",
    "NeuronTrack",
    "Spectrum",
    "compare",
    "exact_vector_field",
    "flow_args",
    "main_flow_vector_field",
    "solve_exact",
    "solve_main",
]


# --------------------------------------------------------------------------------------
# Vector fields
# --------------------------------------------------------------------------------------


class FlowArgs(eqx.Module):
    """The `args` of `exact_vector_field` and `main_flow_vector_field`.

    **Fields:**

    - `pairs`: the training pairs folded by `(x, y) ~ (y, x)` (`fourierflow.fold_pairs`); unused
      by the main flow, which is defined on full data only.
    - `weight_decay`: `lambda >= 0`; the flow gains `-lambda * params`.
    - `reduction`: `"sum"` or `"mean"` (static).
    """

    pairs: FoldedPairs
    weight_decay: Float[Array, ""]
    reduction: str = eqx.field(static=True, default="sum")


def flow_args(
    p: int,
    *,
    reduction: Reduction = "sum",
    split: Split | None = None,
    weight_decay: float = 0.0,
) -> FlowArgs:
    """Build the `FlowArgs` of the flow on full data (`split=None`) or on `split.train`.

    **Arguments:**

    - `p`: the modulus.
    - `reduction`: `"sum"` (the theory's time) or `"mean"`.
    - `split`: a `fourierflow.Split` of the same `p`, or `None` for all `p^2` pairs.
    - `weight_decay`: `lambda >= 0`.

    **Returns:**

    A `FlowArgs`.
    """
    check_reduction(reduction)
    check_nonnegative(weight_decay, "weight_decay")
    if split is None:  # NumPy, not jnp: flow_args may run under jit, the fold needs values
        split = Split(np.ones((p, p), bool))
    else:
        if not isinstance(split, Split):
            raise TypeError(f"`split` must be a fourierflow.Split or None; got {type(split)}.")
        if split.p != p:
            raise ValueError(f"`split` must be a split of Z_{p}; got a split with p={split.p}.")
        if not np.any(np.asarray(split.train)):
            raise ValueError("`split` must have at least one training pair; got none.")
    return FlowArgs(fold_pairs(split), jnp.asarray(weight_decay, dtype=float), reduction)


def exact_vector_field(t: Float[ArrayLike, ""], y: TwoLayerNet, args: FlowArgs) -> TwoLayerNet:
    """The exact gradient flow `d(theta, xi)/dt = -grad L(theta, xi) - lambda (theta, xi)`
    (SPEC section 6).

    Any activation, either reduction, full or partial data (the pairs in `args`). The gradient
    is `jax.grad` of `fourierflow.folded_loss` (= `loss` on the train pairs, folded by the
    exchange symmetry: half the work); a trainable embedding, if present, flows too.

    **Arguments:**

    - `t`: time (unused: the flow is autonomous).
    - `y`: the current network (unbatched).
    - `args`: a `FlowArgs` (see `flow_args`).

    **Returns:**

    The velocity, as a `TwoLayerNet` with the same structure as `y`.
    """
    del t
    grads = jax.grad(folded_loss)(y, args.pairs, args.reduction)
    return jtu.tree_map(lambda g, w: -g - args.weight_decay * w, grads, y)


def _main_flow_rates(theta, xi, reduction):
    # SPEC 7 as circular correlations: with S = sum(theta), summing the linearised loss
    # sum_{x,y} [-f_z + mean_j f_j] over Z_p exactly gives
    #   dtheta[i] = 4 (sum_y xi[i + y] theta[y] - mean(xi) S),
    #   dxi[j]    = 2 (sum_x theta[x] theta[j - x] - S^2 / p),
    # and in the Fourier basis these are 2p alpha_k beta_k cos(w_k j + psi_k - phi_k) and
    # p alpha_k^2 cos(w_k j + 2 phi_k); dropping the DC bin of the products is exactly the
    # subtraction of the means. One rfft per layer instead of a loop over frequencies.
    p = theta.shape[-1]
    F_theta = jnp.fft.rfft(theta, axis=-1)
    F_xi = jnp.fft.rfft(xi, axis=-1)
    nonzero = jnp.arange(F_theta.shape[-1]).reshape((1,) * (F_theta.ndim - 1) + (-1,)) > 0
    dtheta = 4 * jnp.fft.irfft(jnp.where(nonzero, F_xi * jnp.conj(F_theta), 0), n=p, axis=-1)
    dxi = 2 * jnp.fft.irfft(jnp.where(nonzero, F_theta**2, 0), n=p, axis=-1)
    if reduction == "mean":
        dtheta, dxi = dtheta / p**2, dxi / p**2
    return dtheta, dxi


def main_flow_vector_field(t: Float[ArrayLike, ""], y: TwoLayerNet, args: FlowArgs) -> TwoLayerNet:
    """The main flow of SPEC section 7 (Lemma B.3 / B.39) in weight space.

    `d theta_m[j]/dt = 2p sum_k alpha_k beta_k cos(w_k j + psi_k - phi_k)`,
    `d xi_m[j]/dt = p sum_k alpha_k^2 cos(w_k j + 2 phi_k)` (rates divided by `p^2` for
    `"mean"`), minus `lambda * params` with weight decay. This is the gradient flow of the
    quadratic network with the softmax replaced by the uniform distribution, on full data.
    Neurons and frequencies are decoupled and the DC components stay constant.

    **Arguments:**

    - `t`: time (unused).
    - `y`: the current network (unbatched, `activation="quad"`, no embedding).
    - `args`: a `FlowArgs`; only `reduction` and `weight_decay` are used.

    **Returns:**

    The velocity, as a `TwoLayerNet`.
    """
    del t
    dtheta, dxi = _main_flow_rates(y.theta, y.xi, args.reduction)
    return TwoLayerNet(
        dtheta - args.weight_decay * y.theta, dxi - args.weight_decay * y.xi, y.activation
    )


# --------------------------------------------------------------------------------------
# What is saved
# --------------------------------------------------------------------------------------


class Spectrum(eqx.Module):
    """Per-(neuron, frequency) polar coordinates and the loss, saved instead of whole weights.

    Every field has the leading time axis of the solve (`T`).

    **Fields:**

    - `alpha`, `phi`: magnitudes and phases of `theta_m` (SPEC section 4), `(T, M, K)`.
    - `beta`, `psi`: the same for `xi_m`.
    - `D`: `2 phi - psi mod 2pi`, in [0, 2pi).
    - `theta_dc`, `xi_dc`: the DC coefficients `<theta_m, b0>`, `<xi_m, b0>`, `(T, M)`.
    - `loss`: the flow's loss (on its data, with its reduction), `(T,)`.
    """

    alpha: Float[Array, "T M K"]
    phi: Float[Array, "T M K"]
    beta: Float[Array, "T M K"]
    psi: Float[Array, "T M K"]
    D: Float[Array, "T M K"]
    theta_dc: Float[Array, "T M"]
    xi_dc: Float[Array, "T M"]
    loss: Float[Array, " T"]


def _spectrum(t, net: TwoLayerNet, args: FlowArgs) -> Spectrum:
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


def _weights(t, net, args):
    del t, args
    return net


class FlowSolution(eqx.Module):
    """The result of `solve_exact` / `solve_main` with `return_solution=True`.

    Values at saved times after the solve stopped (on an event) hold the state at `t_stop`, so
    nothing is inf or NaN; `valid` marks the times actually reached.

    **Fields:**

    - `ts`: the requested save times `(T,)`.
    - `ys`: what was saved at `ts`, with a leading time axis: a `TwoLayerNet`
      (`save="weights"`), a `Spectrum` (`save="spectrum"`) or the output of a `save` callable.
    - `t_stop`: the time the solve ended: `ts[-1]`, or the event time (root-found).
    - `y_stop`: what was saved at `t_stop` (no time axis).
    - `events`: `{name: bool}` for the enabled events (`"c_end"`, `"blowup"`, `"align"`):
      which one stopped the solve.
    - `result`: the `diffrax.RESULTS` of the solve (successful, event_occurred, max_steps...).
    - `num_steps`: the number of accepted steps.
    """

    ts: Float[Array, " T"]
    ys: object
    t_stop: Float[Array, ""]
    y_stop: object
    events: dict
    result: dfx.RESULTS
    num_steps: Int[Array, ""]

    @property
    def valid(self) -> Bool[Array, " T"]:
        """Whether each saved time was reached (`ts <= t_stop`)."""
        return self.ts <= self.t_stop

    @property
    def net(self) -> TwoLayerNet:
        """The saved networks (only for `save="weights"`)."""
        if not isinstance(self.ys, TwoLayerNet):
            raise ValueError("`net` is only available for save='weights'.")
        return self.ys

    @property
    def spectrum(self) -> Spectrum:
        """The saved spectra (only for `save="spectrum"`)."""
        if not isinstance(self.ys, Spectrum):
            raise ValueError("`spectrum` is only available for save='spectrum'.")
        return self.ys


# --------------------------------------------------------------------------------------
# Solves
# --------------------------------------------------------------------------------------


def _check_ts(ts) -> Float[Array, " T"]:
    try:
        arr = np.asarray(ts, dtype=float)
    except Exception:  # traced ts: checked by diffrax at run time
        return jnp.asarray(ts, dtype=float)
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(
            f"`ts` must be a 1-D array of at least 2 save times; got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)) or np.any(np.diff(arr) < 0) or arr[-1] <= arr[0]:
        raise ValueError(
            "`ts` must be finite and nondecreasing with ts[-1] > ts[0]; "
            f"got ts from {arr[0]} to {arr[-1]}."
        )
    return jnp.asarray(arr)


def _max_abs(net: TwoLayerNet):
    return jnp.maximum(jnp.max(jnp.abs(net.theta)), jnp.max(jnp.abs(net.xi)))


def _dominant_sin_D(net: TwoLayerNet):
    # |sin D| at each neuron's dominant frequency (argmax beta), the largest over neurons.
    s = neuron_spectrum(net)
    k = jnp.argmax(s["beta"], axis=-1)[..., None]
    D = jnp.take_along_axis(s["D"], k, axis=-1)[..., 0]
    return jnp.max(jnp.abs(jnp.sin(D)))


def _check_events(net0, c_end, blowup, delta):
    if c_end is not None:
        check_positive(c_end, "c_end")
    if blowup is not None:
        check_positive(blowup, "blowup")
    if delta is not None:
        try:
            d = float(delta)
        except (TypeError, ValueError):
            raise TypeError(f"`delta` must be a float in (0, 1) or None; got {delta!r}.") from None
        if not 0 < d < 1:
            raise ValueError(f"`delta` must lie in (0, 1); got delta={delta!r}.")
    try:
        m0 = float(_max_abs(net0))
    except Exception:  # traced weights
        return
    for name, level in (("c_end", c_end), ("blowup", blowup)):
        if level is not None and m0 >= float(level):
            raise ValueError(
                f"`{name}` must exceed the initial max |weight| ({m0:.3g}); got {name}={level!r}."
            )


class _MagnitudeAbove(eqx.Module):
    # A PyTree (not a closure) so that a new threshold reuses the compiled solve. The condition
    # is 1/level - 1/max|w|: near a finite-time blow-up max|w| ~ 1/(2p (t_star - t)) (SPEC 8),
    # so its slope stays about 2p however large the level, and the bisection's |f| < atol test
    # stays attainable in float64 (SPEC 8: Newton may fail on these events, bisection does not).
    level: Float[Array, ""]

    def __call__(self, t, y, args, **kwargs):
        del t, args, kwargs
        return 1.0 / self.level - 1.0 / _max_abs(y)


class _Aligned(eqx.Module):
    delta: Float[Array, ""]

    def __call__(self, t, y, args, **kwargs):
        del t, args, kwargs
        return _dominant_sin_D(y) / self.delta - 1.0


def _event(c_end, blowup, delta, event_rtol):
    conds, directions = {}, {}
    if c_end is not None:
        conds["c_end"] = _MagnitudeAbove(jnp.asarray(c_end, dtype=float))
        directions["c_end"] = True
    if blowup is not None:
        conds["blowup"] = _MagnitudeAbove(jnp.asarray(blowup, dtype=float))
        directions["blowup"] = True
    if delta is not None:
        conds["align"] = _Aligned(jnp.asarray(delta, dtype=float))
        directions["align"] = False
    if not conds:
        return None
    return dfx.Event(conds, _EventBisection(rtol=event_rtol, atol=event_rtol), directions)


def _summed(fn):
    def summed(y, args):
        out, aux = fn(y, args)
        return sum(jtu.tree_leaves(out)), aux

    return summed


class _EventBisection(optx.AbstractRootFinder):
    # Diffrax root-finds on the PyTree of all event conditions, with every condition except
    # the one that fired zeroed out; `optx.Bisection` needs a scalar, so sum the PyTree.
    rtol: float
    atol: float
    norm: Callable = eqx.field(static=True, default=optx.max_norm)

    def _bisection(self):
        return optx.Bisection(rtol=self.rtol, atol=self.atol)

    def init(self, fn, y, args, options, f_struct, aux_struct, tags):
        f_struct = jax.ShapeDtypeStruct((), jtu.tree_leaves(f_struct)[0].dtype)
        return self._bisection().init(_summed(fn), y, args, options, f_struct, aux_struct, tags)

    def step(self, fn, y, args, options, state, tags):
        return self._bisection().step(_summed(fn), y, args, options, state, tags)

    def terminate(self, fn, y, args, options, state, tags):
        return self._bisection().terminate(_summed(fn), y, args, options, state, tags)

    def postprocess(self, fn, y, aux, args, options, state, tags, result):
        return self._bisection().postprocess(
            _summed(fn), y, aux, args, options, state, tags, result
        )


_SAVE = {"weights": _weights, "spectrum": _spectrum}


def _solve(
    vector_field,
    net0,
    ts,
    args,
    *,
    save,
    return_solution,
    solver,
    stepsize_controller,
    dt0,
    rtol,
    atol,
    max_steps,
    c_end,
    blowup,
    delta,
    event_rtol,
    throw,
):
    ts = _check_ts(ts)
    if isinstance(save, str):
        check_choice(save, "save", tuple(_SAVE))
        fn = _SAVE[save]
    elif callable(save):
        fn = save
    else:
        raise TypeError(f"`save` must be 'weights', 'spectrum' or a callable; got {save!r}.")
    check_positive(rtol, "rtol")
    check_positive(atol, "atol")
    check_positive(event_rtol, "event_rtol")
    max_steps = check_positive_int(max_steps, "max_steps")
    _check_events(net0, c_end, blowup, delta)
    if return_solution is None:
        return_solution = save != "weights"
    solver = dfx.Tsit5() if solver is None else solver
    if stepsize_controller is None:
        stepsize_controller = dfx.PIDController(rtol=rtol, atol=atol)

    sol = dfx.diffeqsolve(
        dfx.ODETerm(vector_field),
        solver,
        t0=ts[0],
        t1=ts[-1],
        dt0=dt0,
        y0=net0,
        args=args,
        saveat=dfx.SaveAt(subs=[dfx.SubSaveAt(ts=ts, fn=fn), dfx.SubSaveAt(t1=True, fn=fn)]),
        stepsize_controller=stepsize_controller,
        event=_event(c_end, blowup, delta, event_rtol),
        max_steps=max_steps,
        throw=throw,
    )
    ys_ts, ys_t1 = sol.ys
    t_stop = sol.ts[1][0]
    y_stop = jtu.tree_map(lambda a: a[0], ys_t1)
    reached = ts <= t_stop
    # Diffrax fills save times after an event with inf; hold the state at t_stop instead.
    ys = jtu.tree_map(
        lambda a, a_stop: jnp.where(
            reached.reshape(reached.shape + (1,) * (a.ndim - 1)), a, a_stop[None]
        ),
        ys_ts,
        y_stop,
    )
    if not return_solution:
        return ys
    events = {} if sol.event_mask is None else dict(sol.event_mask)
    return FlowSolution(ts, ys, t_stop, y_stop, events, sol.result, sol.stats["num_accepted_steps"])


def _check_net(net0, name="net0"):
    if not isinstance(net0, TwoLayerNet):
        raise TypeError(f"`{name}` must be a fourierflow.TwoLayerNet; got {type(net0).__name__}.")
    if net0.xi.ndim != 2:
        raise ValueError(
            f"`{name}` must be unbatched (theta, xi of shape (M, p)); got xi.shape={net0.xi.shape}."
        )


def solve_exact(
    net0: TwoLayerNet,
    ts: Float[ArrayLike, " T"],
    *,
    reduction: Reduction = "sum",
    split: Split | None = None,
    weight_decay: float = 0.0,
    save: Literal["weights", "spectrum"] | Callable = "weights",
    return_solution: bool | None = None,
    solver: dfx.AbstractSolver | None = None,
    stepsize_controller: dfx.AbstractStepSizeController | None = None,
    dt0: float | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-12,
    max_steps: int = 100_000,
    c_end: float | None = None,
    blowup: float | None = 1e6,
    delta: float | None = None,
    event_rtol: float = 1e-12,
    throw: bool = True,
) -> TwoLayerNet | FlowSolution:
    """Integrate the exact gradient flow (SPEC section 6) from `net0`, saving at `ts`.

    The solve starts at `ts[0]` and ends at `ts[-1]` or at the first event: the end of the
    initial stage (`max |weights| >= c_end`, Thm 5.2), the blow-up guard
    (`max |weights| >= blowup`), or alignment of every neuron (`max_m |sin D_m| <= delta` at
    each neuron's dominant frequency, crossing downwards). Event times are root-found by
    bisection to `event_rtol`.

    For `relu` the flow's right-hand side jumps where a preactivation `u_m(x, y)` crosses 0 and
    the flow can slide along such a kink (the pushes on both sides point into it); an adaptive
    step-size controller then chatters (p=11, width 4, `init_gaussian(scale=1)` on a half
    split: about 4000 accepted Tsit5 steps to reach t=0.014, versus 48 steps to t=0.5 for
    `quad`). Use a constant step there (`stepsize_controller=diffrax.ConstantStepSize()`,
    `dt0`), which is gradient descent's own treatment of the kinks.

    **Arguments:**

    - `net0`: the initial network (unbatched; any activation; an embedding flows too).
    - `ts`: increasing save times (at least two).
    - `reduction`: `"sum"` (SPEC's time) or `"mean"` (time `n` times longer).
    - `split`: `None` for full data, or a `fourierflow.Split` (train on `split.train`).
    - `weight_decay`: `lambda >= 0` (adds `-lambda * params`).
    - `save`: `"weights"` (a `TwoLayerNet` per time), `"spectrum"` (a `Spectrum`: polar
      coordinates per neuron and frequency, DC and loss) or a callable `fn(t, net, args)`.
    - `return_solution`: return a `FlowSolution` (with `t_stop`, `events`, `result`) instead of
      only the saved values; default: only for `save="weights"` is the bare net returned.
    - `solver`: a Diffrax solver (default `Tsit5()`).
    - `stepsize_controller`: default `PIDController(rtol, atol)`; e.g.
      `diffrax.ConstantStepSize()` with a `dt0` for `relu` (see below).
    - `dt0`: the initial step (default: chosen by Diffrax; required for a constant step).
    - `max_steps`: Diffrax's step limit.
    - `c_end`, `blowup`, `delta`: event thresholds (`None` disables one).
    - `throw`: raise on a failed solve (else read `FlowSolution.result`).

    **Returns:**

    A `TwoLayerNet` whose `theta` and `xi` have a leading time axis of length `len(ts)`
    (values after an event hold the state at the event), or a `FlowSolution`.
    """
    _check_net(net0)
    check_reduction(reduction)
    args = flow_args(net0.p, reduction=reduction, split=split, weight_decay=weight_decay)
    return _solve(
        exact_vector_field,
        net0,
        ts,
        args,
        save=save,
        return_solution=return_solution,
        solver=solver,
        stepsize_controller=stepsize_controller,
        dt0=dt0,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        c_end=c_end,
        blowup=blowup,
        delta=delta,
        event_rtol=event_rtol,
        throw=throw,
    )


def solve_main(
    net0: TwoLayerNet,
    ts: Float[ArrayLike, " T"],
    *,
    reduction: Reduction = "sum",
    weight_decay: float = 0.0,
    save: Literal["weights", "spectrum"] | Callable = "weights",
    return_solution: bool | None = None,
    solver: dfx.AbstractSolver | None = None,
    stepsize_controller: dfx.AbstractStepSizeController | None = None,
    dt0: float | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-12,
    max_steps: int = 100_000,
    c_end: float | None = None,
    blowup: float | None = 1e6,
    delta: float | None = None,
    event_rtol: float = 1e-12,
    throw: bool = True,
) -> TwoLayerNet | FlowSolution:
    """Integrate the main flow (SPEC section 7, Lemma B.3 / B.39) from `net0`, saving at `ts`.

    The main flow blows up in finite time (SPEC 8), so the blow-up guard is on by default; the
    events, saving and return value are those of `solve_exact`. The saved `loss` of
    `save="spectrum"` is the true cross-entropy of the current weights on full data.

    **Arguments:**

    - `net0`: the initial network (unbatched, `activation="quad"`, no embedding).
    - `ts`, `reduction`, `weight_decay`, `save`, `return_solution`, `solver`,
      `stepsize_controller`, `dt0`, `rtol`, `atol`, `max_steps`, `c_end`, `blowup`, `delta`,
      `event_rtol`, `throw`: as in `solve_exact`.

    **Returns:**

    A `TwoLayerNet` with a leading time axis, or a `FlowSolution`.
    """
    _check_net(net0)
    if net0.activation != "quad":
        raise ValueError(
            f"`net0.activation` must be 'quad' for the main flow (SPEC 7); got {net0.activation!r}."
        )
    if net0.embedding is not None:
        raise ValueError("`net0` must have no embedding for the main flow (SPEC 7).")
    check_reduction(reduction)
    args = flow_args(net0.p, reduction=reduction, weight_decay=weight_decay)
    return _solve(
        main_flow_vector_field,
        net0,
        ts,
        args,
        save=save,
        return_solution=return_solution,
        solver=solver,
        stepsize_controller=stepsize_controller,
        dt0=dt0,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        c_end=c_end,
        blowup=blowup,
        delta=delta,
        event_rtol=event_rtol,
        throw=throw,
    )


# --------------------------------------------------------------------------------------
# Exact vs main vs reduced
# --------------------------------------------------------------------------------------


class NeuronTrack(eqx.Module):
    """Polar coordinates of each neuron at its own frequency over time (SPEC sections 4, 8).

    **Fields:**

    - `alpha`, `beta`: input/output magnitudes, `(T, M)`.
    - `D`: the phase difference `2 phi - psi` (in [0, 2pi), or wrapped to (-pi, pi] in a
      difference of two tracks).
    - `phi`, `psi`: input/output phases.
    """

    alpha: Float[Array, "T M"]
    beta: Float[Array, "T M"]
    D: Float[Array, "T M"]
    phi: Float[Array, "T M"]
    psi: Float[Array, "T M"]


class Comparison(eqx.Module):
    """Exact flow, main flow and reduced ODE from one initialization, side by side (Thm 5.2).

    Trajectories are aligned on the common save times `ts`; after a method's solve stopped
    (an event), its values hold the state at its `t_stop`; `valid` marks the times reached by
    all three.

    **Fields:**

    - `ts`: save times `(T,)`.
    - `k`: each neuron's frequency (1..K: `argmax_k beta_k` at t=0), `(M,)`.
    - `exact`, `main`, `reduced`: `NeuronTrack`s at frequency `k_m`, `(T, M)` each.
    - `leak_exact`, `leak_main`: the size of everything outside frequency `k_m` (other
      frequencies and DC, both layers), `sqrt(2/p) * ||off-frequency part of (theta_m, xi_m)||_2`
      (in the units of `alpha`: a cosine of magnitude `a` has this size `a`), `(T, M)`.
    - `t_stop_exact`, `t_stop_main`: when each solve stopped (`ts[-1]` or an event).
    - `p`: the modulus; `reduction`: the loss reduction (static).
    """

    ts: Float[Array, " T"]
    k: Int[Array, " M"]
    exact: NeuronTrack
    main: NeuronTrack
    reduced: NeuronTrack
    leak_exact: Float[Array, "T M"]
    leak_main: Float[Array, "T M"]
    t_stop_exact: Float[Array, ""]
    t_stop_main: Float[Array, ""]
    p: int = eqx.field(static=True)
    reduction: str = eqx.field(static=True, default="sum")

    @property
    def t_stop(self) -> Float[Array, ""]:
        """The last time reached by every method."""
        return jnp.minimum(self.t_stop_exact, self.t_stop_main)

    @property
    def valid(self) -> Bool[Array, " T"]:
        """Whether every method reached each saved time."""
        return self.ts <= self.t_stop

    def difference(
        self, a: Literal["exact", "main", "reduced"], b: Literal["exact", "main", "reduced"]
    ) -> NeuronTrack:
        """Track `a` minus track `b`; angles (`D`, `phi`, `psi`) wrapped to (-pi, pi].

        **Arguments:**

        - `a`, `b`: method names, `"exact"`, `"main"` or `"reduced"`.

        **Returns:**

        A `NeuronTrack` of differences, `(T, M)` each.
        """
        names = ("exact", "main", "reduced")
        ta = getattr(self, check_choice(a, "a", names))
        tb = getattr(self, check_choice(b, "b", names))
        return NeuronTrack(
            alpha=ta.alpha - tb.alpha,
            beta=ta.beta - tb.beta,
            D=wrap_angle(ta.D - tb.D),
            phi=wrap_angle(ta.phi - tb.phi),
            psi=wrap_angle(ta.psi - tb.psi),
        )

    def error(
        self, a: Literal["exact", "main", "reduced"], b: Literal["exact", "main", "reduced"]
    ) -> dict[str, Float[Array, ""]]:
        """Error of track `a` against reference `b` over the valid times.

        **Arguments:**

        - `a`, `b`: method names (`b` is the reference).

        **Returns:**

        `{"alpha": max |a.alpha / b.alpha - 1|, "beta": max |a.beta / b.beta - 1|,
        "D": max |a.D - b.D| (wrapped)}` over all neurons and valid times.
        """
        diff = self.difference(a, b)
        ref = getattr(self, b)
        mask = self.valid[:, None]
        rel = lambda d, r: jnp.max(jnp.where(mask, jnp.abs(d / r), 0.0))  # noqa: E731
        return {
            "alpha": rel(diff.alpha, ref.alpha),
            "beta": rel(diff.beta, ref.beta),
            "D": jnp.max(jnp.where(mask, jnp.abs(diff.D), 0.0)),
        }


def _track(spectrum: Spectrum, k0) -> tuple[NeuronTrack, Float[Array, "T M"]]:
    """The polar coordinates at each neuron's frequency `k0` (0-based) and the leak."""

    def at(a):
        idx = jnp.broadcast_to(k0[None, :, None], a.shape[:2] + (1,))
        return jnp.take_along_axis(a, idx, axis=-1)[..., 0]

    track = NeuronTrack(
        alpha=at(spectrum.alpha),
        beta=at(spectrum.beta),
        D=at(spectrum.D),
        phi=at(spectrum.phi),
        psi=at(spectrum.psi),
    )
    K = spectrum.alpha.shape[-1]
    p = 2 * K + 1
    # In alpha's units: a frequency contributes alpha_k^2 + beta_k^2, the DC (2/p) g0^2.
    # Sum the other frequencies directly: subtracting the own frequency from the total would
    # cancel catastrophically (the leak is ~1e-10 of the total at small kappa).
    other = jnp.arange(K)[None, None, :] != k0[None, :, None]
    off = jnp.sum(jnp.where(other, spectrum.alpha**2 + spectrum.beta**2, 0.0), axis=-1)
    dc = (2 / p) * (spectrum.theta_dc**2 + spectrum.xi_dc**2)
    leak = jnp.sqrt(off + dc)
    return track, leak


def compare(
    net0: TwoLayerNet,
    ts: Float[ArrayLike, " T"],
    *,
    reduction: Reduction = "sum",
    c_end: float | None = None,
    blowup: float | None = 1e6,
    solver: dfx.AbstractSolver | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-12,
    max_steps: int = 100_000,
) -> Comparison:
    """Run the exact flow, the main flow and the reduced ODE from `net0` (Thm 5.2).

    Each neuron is followed at its own frequency `k_m = argmax_k beta_k(0)` (for
    `init_single_frequency` the only one present): the exact and main flows are solved in
    weight space (`solve_exact`, `solve_main`, saving the spectrum), the reduced ODE
    (`fourierflow.reduced.solve_reduced`, SPEC 8, with phases) from each neuron's
    `(alpha, beta, D, phi, psi)` at `k_m`. The reduced ODE is evaluated up to the first stop
    of the other two (its own blow-up coincides with the main flow's for single-frequency
    neurons).

    **Arguments:**

    - `net0`: the initial network (unbatched, `activation="quad"`, full data); every neuron
      needs a nonzero magnitude at its frequency in both layers.
    - `ts`: increasing save times.
    - `reduction`: `"sum"` or `"mean"`.
    - `c_end`: stop both weight-space solves at the end of the initial stage
      (`max |weights| >= c_end`); `blowup`: the blow-up guard.
    - `solver`, `rtol`, `atol`, `max_steps`: as in `solve_exact`; the reduced ODE (which
      integrates log-magnitudes) uses `rtol` as both its tolerances and its own solver.

    **Returns:**

    A `Comparison`.
    """
    from .reduced import solve_reduced  # written in parallel (issue 3): import at call time

    _check_net(net0)
    if net0.activation != "quad" or net0.embedding is not None:
        raise ValueError(
            f"`net0` must be a quadratic network without embedding to compare with the main "
            f"flow; got activation={net0.activation!r}."
        )
    check_reduction(reduction)
    ts = _check_ts(ts)
    s0 = neuron_spectrum(net0)
    k0 = jnp.argmax(s0["beta"], axis=-1)
    pick = lambda a: jnp.take_along_axis(a, k0[:, None], axis=-1)[:, 0]  # noqa: E731
    alpha0, beta0 = pick(s0["alpha"]), pick(s0["beta"])
    check_positive(alpha0, "alpha of net0 at each neuron's frequency")
    check_positive(beta0, "beta of net0 at each neuron's frequency")
    kw = dict(
        reduction=reduction,
        save="spectrum",
        return_solution=True,
        solver=solver,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        c_end=c_end,
        blowup=blowup,
    )
    exact = solve_exact(net0, ts, **kw)
    main = solve_main(net0, ts, **kw)
    t_common = jnp.minimum(exact.t_stop, main.t_stop)
    alpha, beta, D, phi, psi = solve_reduced(
        alpha0,
        beta0,
        pick(s0["D"]),
        net0.p,
        jnp.minimum(ts, t_common),
        reduction=reduction,
        phases=(pick(s0["phi"]), pick(s0["psi"])),
        rtol=rtol,
        atol=rtol,
    )
    reduced = NeuronTrack(*(jnp.asarray(a).T for a in (alpha, beta, D, phi, psi)))
    exact_track, leak_exact = _track(exact.spectrum, k0)
    main_track, leak_main = _track(main.spectrum, k0)
    return Comparison(
        ts=ts,
        k=k0 + 1,
        exact=exact_track,
        main=main_track,
        reduced=reduced,
        leak_exact=leak_exact,
        leak_main=leak_main,
        t_stop_exact=exact.t_stop,
        t_stop_main=main.t_stop,
        p=net0.p,
        reduction=reduction,
    )
