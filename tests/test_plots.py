"""Every public figure of `fourierflow.plots`, drawn on small synthetic inputs: written by
`save_figure` at its printed size, no text under 7 pt, every legend outside the data."""

import functools
import inspect
import struct

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import fourierflow as ff  # noqa: E402
from fourierflow import plots  # noqa: E402

DPI = 72  # small files, fast; sizes in points do not depend on it
MIN_PT = 7.0
WIDTHS = (3.5, 7.0)  # a paper column, a page


@functools.cache
def _comparison(T=40, M=2, p=5):
    ts = np.linspace(0.0, 2.0, T)
    t = ts[:, None]
    kappa = 0.02

    def track(eps):
        D = np.mod(np.array([[2.5, 1.2]]) * np.exp(-2 * t) * (1 + eps), 2 * np.pi)
        phi = 0.3 + 0.5 * np.exp(-t) + 0 * D
        alpha = kappa * (1 + t**2) * (1 + eps) + 0 * D
        arrays = dict(alpha=alpha, beta=0.9 * alpha, D=D, phi=phi, psi=2 * phi - D)
        return ff.NeuronTrack(**{k: jnp.asarray(v) for k, v in arrays.items()})

    def times(a, b, c):
        return {"exact": jnp.array(a), "main": jnp.array(b), "reduced": jnp.array(c)}

    return ff.Comparison(
        ts=jnp.asarray(ts),
        k=jnp.ones(M, int),
        exact=track(1e-3 * t),
        main=track(1e-9 * t),
        reduced=track(0.0 * t),
        leak_exact=jnp.asarray(1e-3 * kappa * t * np.ones((T, M))),
        leak_main=jnp.zeros((T, M)),
        t_aligned=times(1.0, 1.01, 1.01),
        t_end=times(jnp.inf, jnp.inf, 2.0),
        t_stop=times(1.8, 2.0, 2.0),
        result={m: ff.Outcome.event for m in ("exact", "main", "reduced")},
        p=p,
    )


@functools.cache
def _history(n=30):
    # numpy, not jax: no compilation for a synthetic record
    x = np.linspace(0, 1, n)
    return ff.History(
        step=np.arange(n) * 500,
        train_loss=np.exp(-3 * x) + 1e-3,
        train_accuracy=np.minimum(1.0, 2 * x),
        test_loss=np.exp(-x),
        test_accuracy=x,
        common_accuracy=np.minimum(1.0, 3 * x),
        rare_accuracy=x**2,
        mirror_covered_accuracy=x,
        unseen_accuracy=0 * x,
        frequency_sparsity=0.2 + 0.7 * x,
        phase_alignment=0.6 * (1 - x) + 0.05,
        weight_norm=1 + np.sin(3 * x),
    )


P, WIDTH = 7, 12


def _cosines(rng, freqs, kappa):
    """`(WIDTH, P)` weights: neuron m is `kappa cos(w_k j + phase)` summed over its `freqs[m]`."""
    j = np.arange(P)
    w = np.zeros((WIDTH, P))
    for m, ks in enumerate(freqs):
        for k in ks:
            w[m] += kappa * np.cos(2 * np.pi * k * j / P + rng.uniform(0, 2 * np.pi))
    return w


@functools.cache
def _net(kind="gaussian", seed=0):
    rng = np.random.default_rng(seed)
    K = (P - 1) // 2
    if kind == "gaussian":
        theta, xi = rng.normal(0, 0.3, (2, WIDTH, P))
    else:
        freqs = (
            [[m % K + 1] for m in range(WIDTH)] if kind == "single" else [range(1, K + 1)] * WIDTH
        )
        theta, xi = _cosines(rng, freqs, 0.02), _cosines(rng, freqs, 0.02)
    return ff.TwoLayerNet(jnp.asarray(theta), jnp.asarray(xi), "quad")


@functools.cache
def _snapshots():
    nets = [_net("gaussian", seed) for seed in range(3)]
    return ff.TwoLayerNet(
        jnp.stack([n.theta for n in nets]), jnp.stack([n.xi for n in nets]), "quad"
    )


@functools.cache
def _collapse_inputs(n=600, seed=0):
    rng = np.random.default_rng(seed)
    D0 = rng.uniform(-np.pi, np.pi, n)
    delta = rng.choice([1e-1, 1e-2, 1e-3], n)
    B0 = np.abs(D0)
    tau = 0.5 + B0 / 3 + np.log10(1 / delta) / 10
    return D0, tau, delta


def _racing():
    K, T = 5, 30
    ts = np.linspace(0, 10, T)
    B0 = np.array([0.3, 2.5, 1.0, 0.1, 2.0])
    B = B0[:, None] * np.exp(-0.1 * ts)
    beta = 1e-3 * np.exp((np.pi - B0[:, None]) * ts / 20)
    return ts, beta, B, int(np.argmin(B0)), K


def _phases(M=60, seed=0):
    rng = np.random.default_rng(seed)
    phi = rng.uniform(0, 2 * np.pi, M)
    return phi, 2 * phi + rng.normal(0, 0.05, M)


FIGURES = {
    "plot_flow_comparison": lambda: plots.plot_flow_comparison(_comparison(), title="a title"),
    "plot_racing": lambda: plots.plot_racing(*_racing()[:4], p=5, kappa=1e-3, title="racing"),
    "plot_beta_contour": lambda: plots.plot_beta_contour(
        np.linspace(1, 2, 8),
        np.linspace(0.1, 3, 9),
        np.exp(np.add.outer(np.linspace(0, 1, 9), np.linspace(0, 1, 8))),
        grad_m=np.ones((9, 8)),
        grad_B=-np.ones((9, 8)),
        t=1.0,
        stride=2,
    ),
    "plot_dominance_scaling": lambda: plots.plot_dominance_scaling(
        [11, 23, 47],
        {
            "0.1": {"median": [1, 1.1, 1.2], "p90": [1.5, 1.6, 1.7]},
            "0.01": {"median": [2, 2.1, 2.2], "p90": [2.5, 2.6, 2.7]},
        },
    ),
    "plot_collapse": lambda: plots.plot_collapse(
        *_collapse_inputs(), bound=1.2 * _collapse_inputs()[1]
    ),
    "plot_collapse_check": lambda: plots.plot_collapse_check(
        np.logspace(-3, 1, 60),
        1 + np.r_[np.zeros(10), np.logspace(-14, -9, 50)],
        np.repeat([1e-1, 1e-2, 1e-3], 20),
        rtol=1e-10,
    ),
    "plot_ratio_band": lambda: plots.plot_ratio_band(
        _collapse_inputs()[0], _collapse_inputs()[1] / 0.8, _collapse_inputs()[2], bins=12
    ),
    "plot_histogram": lambda: plots.plot_histogram(
        np.random.default_rng(0).uniform(0, 2 * np.pi, 500),
        reference=([0, 2 * np.pi], [1 / (2 * np.pi)] * 2),
        reference_label="uniform density",
        xlabel="phase",
        title="aligned phases",
    ),
    "plot_mean_field": lambda: plots.plot_mean_field(*_phases(500)),
    "plot_spectra": lambda: plots.plot_spectra(
        {
            "gaussian": _net(),
            "single frequency": _net("single"),
            "multi frequency": _net("multi"),
        },
        title="spectra",
    ),
    "plot_dft_heatmap": lambda: plots.plot_dft_heatmap(_net(), range(6), title="DFT"),
    "plot_cosine_fits": lambda: plots.plot_cosine_fits(_net(), (0, 1)),
    "plot_phase_doubling": lambda: plots.plot_phase_doubling(*_phases(), title="doubling"),
    "plot_phase_groups": lambda: plots.plot_phase_groups(
        np.arange(60) % 3 + 1, _phases()[0], np.ones(60), np.linspace(1, 2, 60), 3
    ),
    "plot_history": lambda: plots.plot_history(_history(), (3000, 9000), xscale="symlog"),
    "plot_memorization": lambda: plots.plot_memorization(_history(), (3000, 9000)),
    "plot_ensemble_history": lambda: plots.plot_ensemble_history(
        ff.History(
            **{
                k: np.stack([np.asarray(v) * (1 if k == "step" else c) for c in (0.9, 1, 1.1)])
                for k, v in _history().as_dict().items()
            }
        ),
        xscale="symlog",
    ),
    "plot_pair_heatmaps": lambda: plots.plot_pair_heatmaps(
        _net(), ff.Split(train=np.random.default_rng(3).uniform(size=(P, P)) < 0.6), title="pairs"
    ),
    "plot_dft_over_training": lambda: plots.plot_dft_over_training(
        _snapshots(), [0, 100, 200], range(8)
    ),
    "plot_ablation": lambda: plots.plot_ablation(
        {"1": {"mean": 1.0, "std": 0.1}, "2": {"mean": 1e-3, "std": 1e-4}},
        {"[0, 0.4pi)": 2.0, "[0, 2.0pi)": 1e-9},
        paper1={"1": 1.1, "2": 2e-3},
        paper2={"[0, 0.4pi)": 2.1},
        accurate={"[0, 2.0pi)": 5e-10},
    ),
    "plot_validity_map": lambda: plots.plot_validity_map(
        [
            dict(
                init=i,
                kappa=k,
                p=q,
                width=4,
                winner_equals_reduced=r,
                beta_error_reduced=e,
                beta_error_main=e,
            )
            for i, r in (("single_frequency", 1.0), ("gaussian", 0.6))
            for k, e in ((0.01, 1e-3), (0.1, 1e5))
            for q in (11, 23)
        ]
    ),  # fmt: skip
    "plot_logits": lambda: plots.plot_logits(
        {"one": np.sin(np.arange(14)).reshape(2, 7), "two": np.cos(np.arange(14)).reshape(2, 7)},
        [(1, 2), (3, 3)],
        7,
    ),
}


def test_every_public_figure_is_tested():
    public = {
        name
        for name, obj in vars(plots).items()
        if name.startswith("plot_") and inspect.isfunction(obj)
    }
    assert public == set(FIGURES)


def _png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def _overlap(a, b, tol=1.0):
    """Whether two display-space boxes overlap by more than `tol` pixels both ways."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tol and min(a.y1, b.y1) - max(a.y0, b.y0) > tol


def _legends(fig):
    return list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure(name, tmp_path):
    rc_before = dict(matplotlib.rcParams)
    fig = FIGURES[name]()
    assert dict(matplotlib.rcParams) == rc_before, "a plot function changed the global rc"
    (path,) = plots.save_figure(fig, tmp_path / name, dpi=DPI, close=False)
    try:
        assert path == tmp_path / f"{name}.png" and path.stat().st_size > 0
        w, h = fig.get_size_inches()
        assert w in WIDTHS, f"{name}: {w} in wide; figures are a column (3.5) or a page (7)"
        px = _png_size(path)
        assert abs(px[0] - w * DPI) < 1 and abs(px[1] - h * DPI) < 1, (px, w * DPI, h * DPI)

        small = [
            (t.get_text(), t.get_fontsize())
            for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_PT
        ]
        assert not small, f"{name}: text under {MIN_PT} pt: {small[:5]}"

        renderer = fig.canvas.get_renderer()
        fig_box = fig.bbox
        data_axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
        for legend in _legends(fig):
            box = legend.get_window_extent(renderer)
            assert box.x0 >= fig_box.x0 - 1 and box.x1 <= fig_box.x1 + 1, f"{name}: legend cut"
            assert box.y0 >= fig_box.y0 - 1 and box.y1 <= fig_box.y1 + 1, f"{name}: legend cut"
            for ax in data_axes:
                assert not _overlap(box, ax.get_window_extent(renderer)), (
                    f"{name}: a legend lies on the axes {ax.get_title()!r}"
                )
    finally:
        plt.close(fig)


def _small_figure():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [1, 0], label="a line")
    ax.set_title("a title")
    return fig


def test_save_figure_formats(tmp_path):
    fig = _small_figure()
    paths = plots.save_figure(fig, tmp_path / "sub" / "fig.png", ("png", "pdf", "svg"), dpi=DPI)
    assert [p.name for p in paths] == ["fig.png", "fig.pdf", "fig.svg"]
    assert _png_size(paths[0]) == (2 * DPI, round(1.5 * DPI))
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in paths[2].read_bytes()[:2000]
    assert not plt.fignum_exists(fig.number), "save_figure closes the figure"
    # No dates in the files: the same figure gives the same bytes.
    again = plots.save_figure(_small_figure(), tmp_path / "again", ("pdf", "svg"), dpi=DPI)
    assert again[0].read_bytes() == paths[1].read_bytes()
    assert again[1].read_bytes() == paths[2].read_bytes()


@pytest.mark.parametrize("stem", ["fig15a_D0_in_(pi2,pi)", "a b", "x,y", "ü"])
def test_save_figure_refuses_unportable_names(stem, tmp_path):
    fig = plt.figure()
    with pytest.raises(ValueError, match="portable"):
        plots.save_figure(fig, tmp_path / stem)
    plt.close(fig)
    assert not list(tmp_path.iterdir())


def test_save_figure_refuses_unknown_formats(tmp_path):
    fig = plt.figure()
    with pytest.raises(ValueError, match="formats"):
        plots.save_figure(fig, tmp_path / "x", ("png", "jpg"))
    plt.close(fig)
    assert not list(tmp_path.iterdir())


def test_flow_comparison_five_axes_and_no_marks():
    fig, axes = plt.subplots(1, 5)
    assert plots.plot_flow_comparison(_comparison(), axes=axes, t_align={}) is fig
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert not any("tau" in s for s in labels)
    plt.close(fig)
