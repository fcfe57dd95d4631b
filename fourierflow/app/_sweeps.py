"""The sweeps view: a `SweepResult` (loaded from `.npz` or run here), filtered by outcome.

Alignment sweeps show the distribution of `tau = r kappa t_delta`, the scaling collapse (tau
against D0, every kappa on one curve: the closed form's) and the ratio to the paper's bound
form (`alignment_time_bound`); lottery sweeps show the predicted against the actual winners.
A sweep run here is split into shards of one chunk each (`sweep_alignment(shard=(i, N))`,
merged with `merge_sweeps`): the progress bar moves shard by shard and a cancel stops
between two shards.
"""

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ._dynamics import as_integer, as_real
from ._figure import Bars, Line, Panel, View

__all__ = ["load_result", "run_alignment_sweep", "sweep_view"]

MAX_POINTS = 4000  # points drawn per scatter (every element counts in the histograms)
SHARD = 512
MAX_N = 200_000
COLORS = {
    "event": "#1f77b4",
    "successful": "#2ca02c",
    "never_aligns": "#ff7f0e",
    "no_unique_winner": "#8c564b",
    "max_steps_reached": "#d62728",
    "nonfinite": "#e377c2",
    "solver_failed": "#7f7f7f",
    "missing": "#bcbd22",
}


def load_result(path):
    """A `SweepResult` from a `.npz` path, or a `ValueError` that says what is wrong."""
    import fourierflow as ff

    if path is None or not str(path).strip():
        raise ValueError("give the path of a sweep file (.npz) or upload one.")
    path = Path(str(path).strip()).expanduser()
    if path.is_dir() and (path / "sweep.npz").is_file():
        path = path / "sweep.npz"
    if not path.exists():
        raise ValueError(f"no such file: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a file (a sweep is a .npz file: OUT/sweep.npz).")
    result = ff.load_sweep(path)  # a ValueError naming the file when it is not a sweep
    alignment = {"t_delta", "D0", "kappa"} <= set(result.names)
    lottery = {"winner", "argmin_B0"} <= set(result.names)
    if not (alignment or lottery):
        raise ValueError(
            f"{path.name} is a sweep of neither alignment times nor the lottery (it holds "
            f"{', '.join(result.names) or 'nothing'}); the explorer shows those two kinds."
        )
    return result


def check_sweep(n, p, delta, kappa_min, kappa_max, method, seed):
    """The parameters of a sweep run in the app, checked."""
    from .._checks import check_modulus

    n = as_integer(n, "n")
    if not 1 <= n <= MAX_N:
        raise ValueError(
            f"`n` must lie in 1..{MAX_N} in the explorer (use `fourierflow sweep` "
            f"for more); got n={n}."
        )
    p = check_modulus(as_integer(p, "p"))
    delta = as_real(delta, "delta")
    if not 0 < delta < 1:
        raise ValueError(f"`delta` must lie in (0, 1); got delta={delta!r}.")
    kappa_min, kappa_max = as_real(kappa_min, "kappa_min"), as_real(kappa_max, "kappa_max")
    if not 0 < kappa_min <= kappa_max:
        raise ValueError(
            f"`kappa_min`, `kappa_max` need 0 < kappa_min <= kappa_max; got {kappa_min!r}, "
            f"{kappa_max!r}."
        )
    if method not in ("closed_form", "ode"):
        raise ValueError(f"`method` must be 'closed_form' or 'ode'; got {method!r}.")
    seed = as_integer(seed, "seed")
    if seed < 0:
        raise ValueError(f"`seed` must be an integer >= 0; got seed={seed}.")
    return n, p, delta, kappa_min, kappa_max, method, seed


def run_alignment_sweep(
    n, p, delta, kappa_min, kappa_max, method="closed_form", seed=0
) -> Iterator[tuple[int, int, object]]:
    """Run the command line's alignment sweep (D0 uniform on (-pi, pi), kappa log-uniform)
    shard by shard: yields `(done, total, result)` after each shard, `result` the merge of
    the shards so far (the whole sweep at the end). Stop iterating to cancel."""
    import fourierflow as ff

    n, p, delta, kappa_min, kappa_max, method, seed = check_sweep(
        n, p, delta, kappa_min, kappa_max, method, seed
    )
    rng = np.random.default_rng(seed)
    D0 = rng.uniform(-np.pi, np.pi, n)
    kappa = np.exp(rng.uniform(np.log(kappa_min), np.log(kappa_max), n))
    total = max(1, math.ceil(n / SHARD))
    shards = []
    for i in range(total):
        shards.append(
            ff.sweep_alignment(
                D0,
                kappa,
                p,
                delta,
                method=method,
                chunk_size=SHARD,
                shard=(i, total),
                seed=seed,
                progress=False,
            )
        )
        yield i + 1, total, ff.merge_sweeps(shards, allow_partial=i + 1 < total)


def outcome_choices(result) -> list[tuple[str, str]]:
    """`(label with count, name)` for each outcome present."""
    counts = result.describe()
    return [(f"{name} ({count})", name) for name, count in sorted(counts.items())]


def sweep_view(result, outcomes: list[str] | None = None, *, source: str = "") -> View:
    """The view of a sweep's elements whose outcome is among `outcomes` (default: all)."""
    import fourierflow as ff

    names = np.asarray(ff.outcome_names(result.outcome))
    present = sorted(set(names.tolist()))
    chosen = present if outcomes is None else [o for o in outcomes if o in present]
    mask = np.isin(names, chosen)
    if "winner" in result.names and "t_delta" not in result.names:
        return _lottery_view(result, names, mask, chosen, source)
    return _alignment_view(result, names, mask, chosen, source)


def _subsample(idx: np.ndarray) -> np.ndarray:
    if idx.size <= MAX_POINTS:
        return idx
    return idx[np.linspace(0, idx.size - 1, MAX_POINTS).astype(int)]


def _histogram(values: np.ndarray, bins: int = 40):
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.zeros(0), np.zeros(0), 1.0
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi <= lo:
        hi = lo + 1.0
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return (edges[:-1] + edges[1:]) / 2, counts, float(edges[1] - edges[0])


def _alignment_view(result, names, mask, chosen, source) -> View:
    import fourierflow as ff

    D0 = np.asarray(result["D0"], float)
    kappa = np.asarray(result["kappa"], float)
    p = np.asarray(result["p"], float) if "p" in result.names else np.full(result.n, np.nan)
    delta = (
        np.asarray(result["delta"], float) if "delta" in result.names else np.full(result.n, 0.01)
    )
    t = np.asarray(result["t_delta"], float)
    reduction = result.metadata.get("reduction", "sum")
    rate = p if reduction == "sum" else 1 / p
    tau = np.asarray(result["tau"], float) if "tau" in result.names else rate * kappa * t
    D0w = np.pi - np.mod(np.pi - D0, 2 * np.pi)
    hist_panels, collapse, ratio_traces = [], [], []
    ratios_all = np.full(result.n, np.nan)
    ok = np.isfinite(p) & (p >= 3)
    if np.any(ok):
        with np.errstate(all="ignore"):
            bound = np.full(result.n, np.nan)
            for pv in np.unique(p[ok]):  # the bound takes one p at a time
                sel = ok & (p == pv)
                bound[sel] = np.asarray(
                    ff.alignment_time_bound(
                        kappa[sel], D0[sel], int(pv), delta[sel], reduction=reduction
                    )
                )
            ratios_all = np.where(bound > 0, t / bound, np.nan)
    for name in chosen:
        sel = mask & (names == name)
        idx = np.nonzero(sel)[0]
        color = COLORS.get(name, "#444444")
        x, counts, width = _histogram(tau[idx])
        if x.size:
            hist_panels.append(Bars(x, counts, name, color=color, width=width, group=name))
        pts = _subsample(idx[np.isfinite(tau[idx])])
        collapse.append(
            Line(
                D0w[pts],
                tau[pts],
                name,
                color=color,
                markers="only",
                group=name,
                legend=False,
                hover=[
                    f"{name}: D0 = {D0w[j]:.4f}, kappa = {kappa[j]:.3g}, tau = {tau[j]:.4g}"
                    for j in pts
                ],
            )
        )
        pts = _subsample(idx[np.isfinite(ratios_all[idx])])
        ratio_traces.append(
            Line(
                D0w[pts],
                ratios_all[pts],
                name,
                color=color,
                markers="only",
                group=name,
                legend=False,
            )
        )
    # The closed form's curve: tau depends on D0 and delta only (alpha0 = beta0 = kappa).
    curve = []
    finite_p = p[np.isfinite(p)]
    if finite_p.size:
        d_ref = float(np.median(delta))
        grid = np.linspace(-np.pi + 1e-3, np.pi - 1e-3, 400)
        p_ref = int(finite_p[0])
        t_ref = np.asarray(
            ff.alignment_time_exact(1.0, 1.0, grid, p_ref, d_ref, reduction=reduction)
        )
        r_ref = p_ref if reduction == "sum" else 1 / p_ref
        curve = [
            Line(
                grid,
                r_ref * t_ref,
                f"closed form (delta = {d_ref:g})",
                color="#000000",
                width=1.5,
                group="closed form",
            )
        ]
    counts = result.describe()
    count_bars = [
        Bars(
            np.arange(len(counts)),
            list(counts.values()),
            "elements per outcome",
            color=[COLORS.get(k, "#444") for k in counts],
            width=0.6,
            group="counts",
            legend=False,
            hover=[f"{k}: {v}" for k, v in counts.items()],
        )
    ]
    t_label = "tau = p kappa t_delta" if reduction == "sum" else "tau = kappa t_delta / p"
    panels = [
        Panel("distribution of the alignment time", t_label, "elements", hist_panels),
        Panel(
            "scaling collapse: every kappa on one curve", "D0 (wrapped)", t_label, collapse + curve
        ),
        Panel(
            "t_delta / alignment_time_bound (Thm 5.3's form)",
            "D0 (wrapped)",
            "ratio",
            ratio_traces
            + [
                Line(
                    [-np.pi, np.pi],
                    [1, 1],
                    "ratio 1",
                    color="#000000",
                    dash="dash",
                    width=1,
                    legend=False,
                )
            ],
        ),
        Panel("outcomes: " + ", ".join(counts), "outcome (index)", "elements", count_bars),
    ]
    shown = mask & np.isfinite(tau)
    sel_ratio = ratios_all[mask]
    sel_ratio = sel_ratio[np.isfinite(sel_ratio)]
    near_pi = mask & np.isfinite(ratios_all) & (np.abs(np.sin(D0)) <= 2 * delta)
    numbers = dict(
        source=source,
        kind="alignment",
        n=result.n,
        outcomes=counts,
        shown=chosen,
        n_shown=int(mask.sum()),
        reduction=reduction,
        tau_median=float(np.median(tau[shown])) if shown.any() else None,
        ratio_min=float(np.min(sel_ratio)) if sel_ratio.size else None,
        ratio_max=float(np.max(sel_ratio)) if sel_ratio.size else None,
        ratio_n_near_pi=int(near_pi.sum()),
        partial=bool(result.partial),
    )
    summary = (
        f"**{result.n}** elements ({', '.join(f'{k}: {v}' for k, v in counts.items())}); "
        f"showing **{int(mask.sum())}** ({', '.join(chosen) or 'none'})"
        + (" — partial: some shards are missing." if result.partial else ".")
    )
    if sel_ratio.size:
        summary += (
            f" Ratio t_delta / bound in [{numbers['ratio_min']:.3g}, {numbers['ratio_max']:.3g}]"
            " (the bound's form breaks down next to D0 = pi, where it turns negative: those "
            "elements are left out)."
        )
    return View(
        title=f"Alignment sweep{': ' + source if source else ''} ({result.n} elements)",
        panels=panels,
        cols=2,
        numbers=numbers,
        meta=dict(
            view="sweeps",
            kind="alignment",
            n=result.n,
            n_shown=int(mask.sum()),
            shown=chosen,
            source=source,
        ),
        summary=summary,
    )


def _lottery_view(result, names, mask, chosen, source) -> View:
    winner = np.asarray(result["winner"], int)
    predicted = np.asarray(result["argmin_B0"], int)
    K = int(np.asarray(result["D0"]).shape[-1]) if "D0" in result.names else int(winner.max())
    ks = np.arange(1, K + 1)
    w, pr = winner[mask], predicted[mask]
    hits = float(np.mean(w == pr)) if w.size else math.nan
    panels = [
        Panel(
            "winners and predicted winners per frequency",
            "frequency k",
            "neurons",
            [
                Bars(
                    ks - 0.2,
                    np.bincount(w, minlength=K + 1)[1:],
                    "actual winner",
                    color="#d62728",
                    width=0.4,
                ),
                Bars(
                    ks + 0.2,
                    np.bincount(pr, minlength=K + 1)[1:],
                    "predicted argmin_k B_k(0)",
                    color="#1f77b4",
                    width=0.4,
                ),
            ],
        ),
        Panel(
            "prediction",
            "",
            "neurons",
            [
                Bars(
                    [0, 1],
                    [int(np.sum(w == pr)), int(np.sum(w != pr))],
                    "right / wrong",
                    color=["#2ca02c", "#d62728"],
                    legend=False,
                    hover=["right", "wrong"],
                ),
            ],
        ),
    ]
    numbers = dict(
        source=source,
        kind="lottery",
        n=result.n,
        outcomes=result.describe(),
        shown=chosen,
        n_shown=int(mask.sum()),
        prediction_accuracy=hits,
    )
    return View(
        title=f"Lottery sweep{': ' + source if source else ''} ({result.n} neurons)",
        panels=panels,
        cols=2,
        numbers=numbers,
        meta=dict(
            view="sweeps",
            kind="lottery",
            n=result.n,
            n_shown=int(mask.sum()),
            shown=chosen,
            source=source,
        ),
        summary=f"Lemma C.3's prediction holds for **{hits:.2%}** of the {int(mask.sum())} "
        "neurons shown.",
    )
