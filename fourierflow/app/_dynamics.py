"""The dynamics view: the exact flow, the main flow and the per-frequency ODE of one network side
by side (`fourierflow.compare`), with the event times of the initial stage and the gaps.

Every solve saves `N_TIMES` times, so a new kappa, seed, phase or tolerance reuses the compiled
programs of the last one (only a new `p`, width or reduction compiles anew); the views
themselves are kept in a small cache, so returning to a setting is immediate.
"""

import collections
import dataclasses
import math
import threading

import numpy as np

from ._figure import Line, Panel, View

__all__ = ["INITS", "DynamicsParams", "dynamics_view", "initial_network"]

INITS = ("single-frequency", "multi-frequency", "Gaussian")
N_TIMES = 200
# The method is told by the line style, the quantity by the colour (as in fourierflow.plots).
METHODS = {
    "exact": ("exact flow", "solid", 2.6),
    "main": ("main flow", "dash", 2.0),
    "reduced": ("per-frequency ODE", "dot", 2.4),
}
INPUT, OUTPUT, DIFF, EVENT = "#1f77b4", "#d62728", "#9467bd", "#7f7f7f"


@dataclasses.dataclass(frozen=True)
class DynamicsParams:
    """The settings of the dynamics view (hashable: the key of the view cache)."""

    p: int = 23
    width: int = 64
    kappa: float = 0.02
    init: str = "single-frequency"
    seed: int = 0
    neuron: int = 0
    set_phases: bool = True
    phi0: float = 0.5
    psi0: float = 0.7
    delta: float = 0.01
    c_end_over_kappa: float = 10.0
    reduction: str = "sum"

    @classmethod
    def checked(cls, **values) -> "DynamicsParams":
        """The parameters, with a `ValueError` naming the first bad one (before any compile)."""
        from .._checks import check_modulus

        p = as_integer(values.get("p", 23), "p")
        check_modulus(p)
        width = as_integer(values.get("width", 64), "width")
        if width < 1:
            raise ValueError(f"`width` must be an integer >= 1; got width={width}.")
        kappa = as_real(values.get("kappa", 0.02), "kappa")
        if not 0 < kappa <= 1:
            raise ValueError(
                f"`kappa` must lie in (0, 1] (the theory's small-weight regime); got "
                f"kappa={kappa!r}."
            )
        init = values.get("init", "single-frequency")
        if init not in INITS:
            raise ValueError(f"`init` must be one of {', '.join(INITS)}; got {init!r}.")
        seed = as_integer(values.get("seed", 0), "seed")
        if seed < 0:
            raise ValueError(f"`seed` must be an integer >= 0; got seed={seed}.")
        neuron = as_integer(values.get("neuron", 0), "neuron")
        if not 0 <= neuron < width:
            raise ValueError(f"`neuron` must lie in 0..{width - 1} (the width); got {neuron}.")
        delta = as_real(values.get("delta", 0.01), "delta")
        if not 0 < delta < 1:
            raise ValueError(f"`delta` must lie in (0, 1); got delta={delta!r}.")
        c_end = as_real(values.get("c_end_over_kappa", 10.0), "c_end_over_kappa")
        if not 1 < c_end < math.inf:
            raise ValueError(f"`c_end / kappa` must be finite and > 1; got {c_end!r}.")
        reduction = values.get("reduction", "sum")
        if reduction not in ("sum", "mean"):
            raise ValueError(f"`reduction` must be 'sum' or 'mean'; got {reduction!r}.")
        set_phases = bool(values.get("set_phases", init == "single-frequency"))
        phi0 = as_real(values.get("phi0", 0.5), "phi0")
        psi0 = as_real(values.get("psi0", 0.7), "psi0")
        if set_phases and init != "single-frequency":
            raise ValueError(
                "initial phases can be set for the single-frequency initialization only "
                f"(one frequency per neuron); got init={init!r}."
            )
        _check_size(p, width)
        return cls(
            p, width, kappa, init, seed, neuron, set_phases, phi0, psi0, delta, c_end, reduction
        )


def as_integer(value, name: str) -> int:
    if value is None or isinstance(value, bool):
        raise ValueError(f"`{name}` must be an integer; got {value!r}.")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be an integer; got {value!r}.") from None
    if not math.isfinite(f) or f != int(f):
        raise ValueError(f"`{name}` must be an integer; got {value!r}.")
    return int(f)


def as_real(value, name: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number; got {value!r}.") from None
    if not math.isfinite(f):
        raise ValueError(f"`{name}` must be finite; got {value!r}.")
    return f


def _check_size(p: int, width: int) -> None:
    """Refuse an exact flow that cannot fit in memory (its loss builds the logits of the
    `p^2 / 2` folded pairs and the activations, with their gradients: about 4 copies)."""
    import os

    need = 4 * 8 * (p * (p + 1) // 2) * (p + width)
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        have = 1 << 62
    if need > 0.5 * have:
        raise ValueError(
            f"`p`={p}, `width`={width}: the exact flow needs about {need / 2**30:.1f} GiB of "
            f"memory and this machine has {have / 2**30:.1f} GiB; choose a smaller p or width."
        )


def initial_network(params: DynamicsParams):
    """The initial network of `params` (float64 when JAX's x64 mode is on).

    Gaussian: entries i.i.d. normal scaled so that the mean square magnitude per frequency is
    `kappa^2` (`init_gaussian` with `scale = kappa p / 2`). With `set_phases`, the chosen
    neuron's input and output phases at its frequency are `phi0` and `psi0`.
    """
    import jax.numpy as jnp
    import jax.random as jr

    import fourierflow as ff

    key = jr.key(params.seed)
    p, width, kappa = params.p, params.width, params.kappa
    if params.init == "single-frequency":
        net = ff.init_single_frequency(key, p, width, kappa)
        if params.set_phases:
            m = params.neuron
            k = int(ff.dominant_frequencies(net)[m])  # 1..K
            K = ff.num_frequencies(p)
            magnitude = jnp.zeros(K).at[k - 1].set(kappa)
            row = lambda phase: ff.from_polar(magnitude, jnp.zeros(K).at[k - 1].set(phase))  # noqa: E731
            net = ff.TwoLayerNet(
                net.theta.at[m].set(row(params.phi0)), net.xi.at[m].set(row(params.psi0))
            )
        return net
    if params.init == "multi-frequency":
        return ff.init_multi_frequency(key, p, width, kappa)
    return ff.init_gaussian(key, p, width, scale=kappa * p / 2)


def _save_times(net0, p: int, reduction: str, kappa: float) -> np.ndarray:
    """`N_TIMES` save times through the initial stage: to 1.1x the earliest blow-up of the
    per-frequency ODE (every solve stops before it, at the end of the stage)."""
    import fourierflow as ff

    s0 = ff.neuron_spectrum(net0)
    k0 = np.argmax(np.asarray(s0["beta"]), axis=-1)[:, None]
    pick = lambda a: np.take_along_axis(np.asarray(a), k0, axis=-1)[:, 0]  # noqa: E731
    t_star = np.asarray(
        ff.blowup_time(pick(s0["alpha"]), pick(s0["beta"]), pick(s0["D"]), p, reduction=reduction)
    )
    t_star = t_star[np.isfinite(t_star)]
    if t_star.size:
        t_max = 1.1 * float(np.min(t_star))
    else:  # no neuron ever blows up (all at D0 = pi): the command line's choice
        t_max = 3 * float(ff.blowup_time(kappa, kappa, np.pi / 2, p, reduction=reduction))
    return np.linspace(0.0, t_max, N_TIMES)


def _first_crossing(t: np.ndarray, sin_abs: np.ndarray, delta: float) -> float:
    """The first time `|sin D| <= delta` on a saved trajectory, linearly interpolated."""
    below = np.nonzero(sin_abs <= delta)[0]
    if below.size == 0:
        return math.inf
    i = int(below[0])
    if i == 0:
        return float(t[0])
    a, b = sin_abs[i - 1], sin_abs[i]
    return float(t[i - 1] + (t[i] - t[i - 1]) * (a - delta) / (a - b))


def _wrap(a):
    return np.pi - np.mod(np.pi - np.asarray(a), 2 * np.pi)


_CACHE: collections.OrderedDict = collections.OrderedDict()
_CACHE_SIZE = 32
# One solve at a time: two requests for a new p would otherwise compile the same programs
# twice, each at half speed.
_LOCK = threading.Lock()


def dynamics_view(params: DynamicsParams, *, progress: bool = False) -> View:
    """The dynamics view of `params` (cached: the same parameters return the same `View`)."""
    with _LOCK:
        if params in _CACHE:
            _CACHE.move_to_end(params)
            return _CACHE[params]
        view = _compute(params, progress)
        _CACHE[params] = view
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        return view


def _compute(params: DynamicsParams, progress: bool) -> View:
    import jax.numpy as jnp

    import fourierflow as ff

    p, kappa, delta, m = params.p, params.kappa, params.delta, params.neuron
    net0 = initial_network(params)
    ts = _save_times(net0, p, params.reduction, kappa)
    cmp = ff.compare(
        net0,
        jnp.asarray(ts),
        reduction=params.reduction,
        delta=delta,
        c_end=params.c_end_over_kappa * kappa,
        throw=False,
        progress=progress,
    )
    r = ff.reduced_rate(p, params.reduction)
    scale = r * kappa  # tau = r kappa t (p kappa t for the "sum" loss)
    tau = ts * scale
    t_stop = {name: float(cmp.t_stop[name]) for name in METHODS}
    tracks = {name: getattr(cmp, name) for name in METHODS}
    k = int(cmp.k[m])
    a0, b0 = float(tracks["reduced"].alpha[0, m]), float(tracks["reduced"].beta[0, m])
    D0 = float(tracks["reduced"].D[0, m])
    t_align_neuron = {
        "reduced": float(ff.alignment_time_exact(a0, b0, D0, p, delta, reduction=params.reduction))
    }
    for name in ("exact", "main"):
        reached = ts <= t_stop[name]
        D = np.asarray(tracks[name].D[:, m])[reached]
        t_align_neuron[name] = _first_crossing(ts[reached], np.abs(np.sin(D)), delta)

    def lines(quantity, color, transform=lambda a: a):
        out = []
        for name, (label, dash, width) in METHODS.items():
            reached = ts <= t_stop[name]
            y = transform(np.asarray(getattr(tracks[name], quantity)[:, m]))
            out.append(
                Line(
                    tau[reached], y[reached], label, color=color, dash=dash, width=width, group=name
                )
            )
        return out

    events = []
    for kind, times, color in (
        ("end of stage", {n: float(cmp.t_end[n]) for n in METHODS}, EVENT),
        (f"neuron {m} aligned", t_align_neuron, DIFF),
    ):
        for name, (_, dash, _) in METHODS.items():
            if math.isfinite(times[name]) and times[name] <= ts[-1]:
                events.append((times[name] * scale, kind, color, dash, name))
    # One label for the methods whose times coincide at the chart's resolution.
    labelled, last = [], None
    for x, kind, color, dash, name in sorted(events, key=lambda e: (e[1], e[0])):
        close = last is not None and last[1] == kind and abs(x - last[0]) < 0.01 * tau[-1]
        if close:
            last[4].append(name)
            labelled.append((x, "", color, dash))
        else:
            last = [x, kind, color, dash, [name]]
            labelled.append(last)
    labelled = [
        (e[0], f"{e[1]} ({', '.join(e[4])})", e[2], e[3]) if isinstance(e, list) else e
        for e in labelled
    ]
    events = labelled
    unlabelled = [(x, "", c, d) for x, _, c, d in events]

    valid = np.asarray(cmp.valid) & (ts <= float(cmp.t_stop["reduced"]))
    gaps = []
    for name in ("exact", "main"):
        d = cmp.difference(name, "reduced")
        ref = tracks["reduced"]
        rel = lambda a, b: np.max(np.abs(np.asarray(a) / np.asarray(b)), axis=1)  # noqa: E731
        _, dash, width = METHODS[name]
        for quantity, color, values in (
            ("alpha", INPUT, rel(d.alpha, ref.alpha)),
            ("beta", OUTPUT, rel(d.beta, ref.beta)),
            ("D", DIFF, np.max(np.abs(np.asarray(d.D)), axis=1)),
        ):
            what = f"|{quantity}/{quantity}_ODE - 1|" if quantity != "D" else "|D - D_ODE|"
            gaps.append(
                Line(
                    tau[valid],
                    values[valid],
                    f"{name}: {what}",
                    color=color,
                    dash=dash,
                    width=width,
                    group=name,
                    legend=False,
                )
            )
    t_label = "tau = p kappa t" if params.reduction == "sum" else "tau = kappa t / p"
    panels = [
        Panel(
            f"alpha: input magnitude at k = {k}",
            t_label,
            "alpha",
            lines("alpha", INPUT),
            vlines=unlabelled,
        ),
        Panel(
            f"beta: output magnitude at k = {k}",
            t_label,
            "beta",
            lines("beta", OUTPUT),
            vlines=unlabelled,
        ),
        Panel(
            "D = 2 phi - psi (wrapped to (-pi, pi])",
            t_label,
            "D",
            lines("D", DIFF, _wrap),
            vlines=labelled,
        ),
        Panel(
            "gap to the per-frequency ODE (max over neurons)",
            t_label,
            "relative error",
            gaps,
            ylog=True,
            vlines=unlabelled,
        ),
    ]

    outcome = {
        n: sorted(set(np.atleast_1d(ff.outcome_names(cmp.result[n])).tolist())) for n in METHODS
    }
    methods = {
        name: dict(
            t_aligned=float(cmp.t_aligned[name]),
            tau_aligned=float(cmp.t_aligned[name]) * scale,
            t_end=float(cmp.t_end[name]),
            tau_end=float(cmp.t_end[name]) * scale,
            t_stop=t_stop[name],
            outcome=outcome[name],
            neuron_t_aligned=t_align_neuron[name],
            neuron_tau_aligned=t_align_neuron[name] * scale,
        )
        for name in METHODS
    }
    errors = {
        f"{a}_vs_reduced": {q: float(v) for q, v in cmp.error(a, "reduced").items()}
        for a in ("exact", "main")
    }
    numbers = dict(
        parameters=dataclasses.asdict(params),
        rate=r,
        neuron=dict(index=m, k=k, alpha0=a0, beta0=b0, D0=D0),
        methods=methods,
        errors=errors,
        max_leak_exact_over_kappa=float(
            np.max(np.where(np.asarray(cmp.valid)[:, None], np.asarray(cmp.leak_exact), 0)) / kappa
        ),
    )
    meta = dict(
        view="dynamics",
        p=p,
        width=params.width,
        kappa=kappa,
        init=params.init,
        seed=params.seed,
        neuron=m,
        phi0=params.phi0 if params.set_phases else None,
        psi0=params.psi0 if params.set_phases else None,
        delta=delta,
        reduction=params.reduction,
        tau_aligned_reduced=t_align_neuron["reduced"] * scale,
    )
    return View(
        title=(
            f"p = {p}, width {params.width}, kappa = {kappa:g}, {params.init} init "
            f"(seed {params.seed}): neuron {m} at its frequency k = {k}"
        ),
        panels=panels,
        cols=2,
        numbers=numbers,
        meta=meta,
        summary=_summary(numbers, scale),
    )


def _fmt(x: float) -> str:
    return "never" if not math.isfinite(x) else f"{x:.5g}"


def _summary(numbers: dict, scale: float) -> str:
    n = numbers["neuron"]
    rows = [
        "| method | all neurons aligned, tau | end of stage, tau | neuron "
        f"{n['index']} aligned, tau | outcome |",
        "|---|---|---|---|---|",
    ]
    for name, (label, _, _) in METHODS.items():
        r = numbers["methods"][name]
        rows.append(
            f"| {label} | {_fmt(r['tau_aligned'])} | {_fmt(r['tau_end'])} | "
            f"{_fmt(r['neuron_tau_aligned'])} | {', '.join(r['outcome'])} |"
        )
    e = numbers["errors"]
    rows.append("")
    rows.append(
        f"Neuron {n['index']}: k = {n['k']}, alpha0 = {n['alpha0']:.4g}, beta0 = "
        f"{n['beta0']:.4g}, D0 = {n['D0']:.4f}. Max relative error over the stage, exact vs "
        f"ODE: alpha {e['exact_vs_reduced']['alpha']:.2e}, beta "
        f"{e['exact_vs_reduced']['beta']:.2e}, D {e['exact_vs_reduced']['D']:.2e}; main vs "
        f"ODE: beta {e['main_vs_reduced']['beta']:.2e}. Time unit: tau = {scale:.4g} t."
    )
    return "\n".join(rows)
