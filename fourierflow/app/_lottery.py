"""The lottery view: the frequencies of one neuron racing (Lemma C.3, Cor 6.1), the predicted
winner `argmin_k B_k(0)` against the actual one, and `beta` over `(D0, time)`.

The main flow decouples a neuron's frequencies: each follows its own per-frequency ODE. The
race (K frequencies) and the contour grid (`N_GRID` values of D0) are one `solve_reduced`
batch of fixed size with `N_TIMES` save times, so a new kappa or seed reuses the compiled
program; only a new p compiles anew.
"""

import collections
import threading

import numpy as np

from ._dynamics import as_integer, as_real
from ._figure import Bars, Heatmap, Line, Panel, View

__all__ = ["LOTTERY_INITS", "lottery_view"]

LOTTERY_INITS = ("multi-frequency", "Gaussian")
N_TIMES = 160
N_GRID = 72
WINNER, PREDICTED, OTHER = "#d62728", "#1f77b4", "#b0b0b0"

_CACHE: collections.OrderedDict = collections.OrderedDict()
_LOCK = threading.Lock()


def check_lottery(p, kappa, init, seed) -> tuple[int, float, str, int]:
    """The lottery parameters, checked (a `ValueError` names the first bad one)."""
    from .._checks import check_modulus

    p = check_modulus(as_integer(p, "p"))
    if p > 2001:
        raise ValueError(f"`p` must be <= 2001 in the explorer (K = (p-1)/2 ODEs); got p={p}.")
    kappa = as_real(kappa, "kappa")
    if not 0 < kappa <= 1:
        raise ValueError(f"`kappa` must lie in (0, 1]; got kappa={kappa!r}.")
    if init not in LOTTERY_INITS:
        raise ValueError(f"`init` must be one of {', '.join(LOTTERY_INITS)}; got {init!r}.")
    seed = as_integer(seed, "seed")
    if seed < 0:
        raise ValueError(f"`seed` must be an integer >= 0; got seed={seed}.")
    return p, kappa, init, seed


def initial_frequencies(p: int, kappa: float, init: str, seed: int):
    """One neuron's `(alpha0, beta0, D0)` at each frequency 1..K.

    Multi-frequency (Assumption C.1): `alpha0 = beta0 = kappa`, phases i.i.d. uniform.
    Gaussian: the polar coordinates of one neuron of `init_gaussian(scale = kappa p / 2)`
    (mean square magnitude `kappa^2` per frequency), as in the dynamics view.
    """
    import jax.random as jr

    import fourierflow as ff

    key = jr.key(seed)
    net = (
        ff.init_multi_frequency(key, p, 1, kappa)
        if init == "multi-frequency"
        else ff.init_gaussian(key, p, 1, scale=kappa * p / 2)
    )
    s = ff.neuron_spectrum(net)
    return tuple(np.asarray(s[name][0]) for name in ("alpha", "beta", "D"))


def lottery_view(p: int, kappa: float, init: str = "multi-frequency", seed: int = 0) -> View:
    """The lottery view (cached by its parameters)."""
    p, kappa, init, seed = check_lottery(p, kappa, init, seed)
    key = (p, kappa, init, seed)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _compute(*key)
            while len(_CACHE) > 16:
                _CACHE.popitem(last=False)
        return _CACHE[key]


def _compute(p: int, kappa: float, init: str, seed: int) -> View:
    import fourierflow as ff

    alpha0, beta0, D0 = initial_frequencies(p, kappa, init, seed)
    K = alpha0.size
    t_star = np.asarray(ff.blowup_time(alpha0, beta0, D0, p))
    finite = t_star[np.isfinite(t_star)]
    t_max = 0.98 * float(np.min(finite)) if finite.size else 10.0 / (p * kappa)
    ts = np.linspace(0.0, t_max, N_TIMES)
    D_grid = (np.arange(N_GRID) + 0.5) * 2 * np.pi / N_GRID - np.pi  # (-pi, pi), avoiding pi
    # One batch: the K frequencies, then the grid at alpha0 = beta0 = kappa.
    sol = ff.solve_reduced(
        np.concatenate([alpha0, np.full(N_GRID, kappa)]),
        np.concatenate([beta0, np.full(N_GRID, kappa)]),
        np.concatenate([D0, D_grid]),
        p,
        ts,
        event=ff.BlowUp(1e6),
        stepsize_controller=_controller(),
        throw=False,
    )
    beta = np.asarray(sol.ys.beta)
    D = np.asarray(sol.ys.D)
    race_beta, grid_beta = beta[:K], beta[K:]
    B = np.asarray(ff.misalignment(D[:K]))
    B0 = np.asarray(ff.misalignment(D0))
    predicted = int(np.argmin(B0)) + 1
    winner = int(np.argmax(race_beta[:, -1])) + 1
    tau = p * kappa * ts
    ks = np.arange(1, K + 1)

    def color(k):
        return WINNER if k == winner else (PREDICTED if k == predicted else OTHER)

    def label(k):
        tags = [t for t, on in (("winner", k == winner), ("predicted", k == predicted)) if on]
        return f"k = {k}" + (f" ({', '.join(tags)})" if tags else "")

    order = sorted(ks, key=lambda k: (k in (winner, predicted), k))  # highlighted drawn last
    race = [
        Line(
            tau,
            race_beta[k - 1] / kappa,
            label(k),
            color=color(k),
            width=3.0 if k in (winner, predicted) else 1.2,
            group=f"k{k}",
            hover=[
                f"k = {k}, B_k(0) = {B0[k - 1]:.3f}<br>tau = {x:.4g}, beta/kappa = {y:.4g}"
                for x, y in zip(tau, race_beta[k - 1] / kappa, strict=True)
            ],
        )
        for k in order
    ]
    misalign = [
        Line(
            tau,
            B[k - 1],
            label(k),
            color=color(k),
            width=3.0 if k in (winner, predicted) else 1.2,
            group=f"k{k}",
            legend=False,
        )
        for k in order
    ]
    bars = [
        Bars(
            ks,
            B0,
            "B_k(0)",
            color=[color(k) for k in ks],
            group="B0",
            legend=False,
            hover=[
                f"k = {k}: B_k(0) = {B0[k - 1]:.4f}, beta_k(end)/kappa = "
                f"{race_beta[k - 1, -1] / kappa:.4g}"
                for k in ks
            ],
        )
    ]
    logb = np.log10(np.maximum(grid_beta / kappa, 1e-300)).T  # (T, N_GRID)
    contour = [
        Heatmap(
            D_grid,
            tau,
            logb,
            "log10(beta/kappa)",
            colorscale="Viridis",
            colorbar="log10 beta/kappa",
            contour=True,
        )
    ]
    t_label = "tau = p kappa t"
    panels = [
        Panel(
            "the race: beta_k / kappa of each frequency", t_label, "beta_k / kappa", race, ylog=True
        ),
        Panel("misalignment B_k = min(D_k, 2 pi - D_k)", t_label, "B_k", misalign),
        Panel("initial misalignment: the smallest wins (Lemma C.3)", "frequency k", "B_k(0)", bars),
        Panel("beta over (D0, time), alpha0 = beta0 = kappa", "D0", t_label, contour),
    ]
    numbers = dict(
        parameters=dict(p=p, kappa=kappa, init=init, seed=seed),
        frequencies=ks,
        alpha0=alpha0,
        beta0=beta0,
        D0=D0,
        B0=B0,
        beta_end=race_beta[:, -1],
        predicted_winner=predicted,
        actual_winner=winner,
        prediction_holds=predicted == winner,
        t_end=float(ts[-1]),
        tau_end=float(tau[-1]),
        outcome=sorted(set(np.atleast_1d(ff.outcome_names(sol.result))[:K].tolist())),
    )
    verdict = "holds" if predicted == winner else "fails (unequal initial magnitudes?)"
    summary = (
        f"Predicted winner argmin_k B_k(0): **k = {predicted}** (B = {B0[predicted - 1]:.4f}); "
        f"actual winner argmax_k beta_k at tau = {tau[-1]:.4g}: **k = {winner}** "
        f"(beta/kappa = {race_beta[winner - 1, -1] / kappa:.4g}). The prediction {verdict}."
    )
    return View(
        title=f"The lottery of one neuron: p = {p} (K = {K}), kappa = {kappa:g}, {init} "
        f"(seed {seed})",
        panels=panels,
        cols=2,
        numbers=numbers,
        meta=dict(
            view="lottery",
            p=p,
            kappa=kappa,
            init=init,
            seed=seed,
            predicted=predicted,
            winner=winner,
        ),
        summary=summary,
    )


def _controller():
    import diffrax as dfx

    return dfx.PIDController(rtol=1e-8, atol=1e-10)
