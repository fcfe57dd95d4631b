"""The house style of the figures and `save_figure`.

Figures are drawn at their printed size, a paper column (`COLUMN_WIDTH`, 3.5 in) or a page
(`PAGE_WIDTH`, 7 in), so that a font size in points is the size the reader sees: no text is
smaller than `MIN_FONT_SIZE`. The sizes live in an rc context that each plot function enters
(`paper_figure`), never in the global rcParams: importing `fourierflow.plots` changes nothing
for the caller's own figures.
"""

import functools
import io
import re
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from .._io import write_atomic

__all__ = ["COLUMN_WIDTH", "MIN_FONT_SIZE", "PAGE_WIDTH", "save_figure"]

COLUMN_WIDTH = 3.5
PAGE_WIDTH = 7.0
MIN_FONT_SIZE = 7.0
FORMATS = ("png", "pdf", "svg")
_TEXT, _TICK = 8.0, MIN_FONT_SIZE

RC = {
    "font.size": _TEXT,
    "axes.titlesize": _TEXT,
    "axes.labelsize": _TEXT,
    "figure.titlesize": _TEXT + 1,
    "figure.labelsize": _TEXT,
    "xtick.labelsize": _TICK,
    "ytick.labelsize": _TICK,
    "legend.fontsize": _TICK,
    "legend.title_fontsize": _TEXT,
    "legend.frameon": False,
    # Long enough to tell solid, dashed and dotted apart in a legend.
    "legend.handlelength": 2.6,
    "legend.handletextpad": 0.5,
    "legend.columnspacing": 1.2,
    "legend.borderaxespad": 0.2,
    "legend.borderpad": 0.2,
    "axes.linewidth": 0.6,
    "axes.titlepad": 3.0,
    "axes.labelpad": 2.0,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "xtick.major.size": 3.0,
    "ytick.major.size": 3.0,
    "xtick.minor.size": 1.5,
    "ytick.minor.size": 1.5,
    "xtick.major.pad": 2.0,
    "ytick.major.pad": 2.0,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.0,
    "patch.linewidth": 0.6,
    # An offset ("1e-9 + 1") hides what an axis shows; plot a deviation on a log axis instead.
    "axes.formatter.useoffset": False,
    "axes.formatter.use_mathtext": True,
    "figure.constrained_layout.h_pad": 0.03,
    "figure.constrained_layout.w_pad": 0.03,
    "image.interpolation": "nearest",
    # Journals ask for TrueType (Type 42) fonts in PDF; Type 3 is matplotlib's default.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    # Stable element ids, so that the same figure gives the same SVG file.
    "svg.hashsalt": "fourierflow",
}


def paper_figure(fn: Callable[..., Figure]) -> Callable[..., Figure]:
    """Run a plot function inside the house rc context and finish its figure.

    Tick labels are created lazily, some only when the figure is drawn (after the context is
    left), so their size is also fixed on each axis; a long suptitle is wrapped to the width.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(RC):
            fig = fn(*args, **kwargs)
            for ax in fig.axes:
                ax.tick_params(which="both", labelsize=_TICK)
        return fig

    return wrapper


def new_figure(width: float, height: float, **kwargs) -> Figure:
    """A figure of `width` x `height` inches with constrained layout."""
    return plt.figure(figsize=(width, height), layout="constrained", **kwargs)


def _wrapped(fig, title: str, size: float) -> str:
    width_in = fig.bbox.width / fig.figure.dpi  # a subfigure: its share of the width
    return textwrap.fill(title, max(20, int(width_in * 72 / (0.55 * size))))


def set_title(fig, title: str | None) -> None:
    """`fig.suptitle(title)` wrapped to the figure's width (a figure or a subfigure)."""
    if title:
        fig.suptitle(_wrapped(fig, title, _TEXT + 1))


def legend_top(fig, handles, labels=None, *, ncol: int | None = None, title: str | None = None):
    """One legend for the whole figure, above the axes (outside every one of them), under the
    figure's title (wrapped to the width).

    The title is the legend's own title: constrained layout does not stack a suptitle and an
    "outside" figure legend, they would overlap.
    """
    if labels is None:
        labels = [h.get_label() for h in handles]
    return fig.legend(
        handles,
        labels,
        loc="outside upper center",
        ncol=ncol or len(handles),
        title=_wrapped(fig, title, _TEXT) if title else None,
        alignment="center",
    )


def legend_above(ax, handles=None, labels=None, *, ncol: int | None = None, title=None):
    """A legend just above `ax`, outside it, with an optional title (the panel's title)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    elif labels is None:
        labels = [h.get_label() for h in handles]
    return ax.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=ncol or max(1, len(handles)),
        title=title,
    )


def _pi_label(x: float, step: float) -> str:
    n = int(round(x / step))
    den = int(round(np.pi / step))
    num, d = n, den
    g = np.gcd(abs(num), d) if num else d
    num, d = num // g, d // g
    if num == 0:
        return "0"
    sign = "-" if num < 0 else ""
    head = "" if abs(num) == 1 else str(abs(num))
    frac = rf"{head}\pi" if d == 1 else rf"{head}\pi/{d}"
    return rf"${sign}{frac}$"


def pi_axis(axis, step: float = np.pi / 2) -> None:
    """Ticks at multiples of `step` (a divisor of pi) labelled in units of pi."""
    axis.set_major_locator(MultipleLocator(step))
    axis.set_major_formatter(FuncFormatter(lambda x, pos: _pi_label(x, step)))


def save_figure(
    fig: Figure,
    path_stem: str | Path,
    formats: str | Sequence[str] = ("png",),
    *,
    dpi: float = 300,
    close: bool = True,
) -> list[Path]:
    """Write `fig` as `path_stem.png` (and/or `.pdf`, `.svg`), each file atomically.

    The figure is written at its own size (`figsize`): a PNG is `figsize * dpi` pixels, and
    PDF and SVG carry no creation date, so the same figure gives the same file.

    **Arguments:**

    - `fig`: the figure (from any function of `fourierflow.plots`).
    - `path_stem`: the path without its extension; its name may hold only letters, digits,
      `_`, `-` and `.` (portable on every file system and in a URL). A trailing `.png`,
      `.pdf` or `.svg` is dropped.
    - `formats`: one or several of `"png"`, `"pdf"`, `"svg"`.
    - `dpi`: resolution of the PNG (and of rasterized parts of PDF and SVG).
    - `close`: close the figure afterwards (frees its memory in a long script).

    **Returns:**

    The paths written, in the order of `formats`.
    """
    stem = Path(path_stem)
    if stem.suffix.lower().lstrip(".") in FORMATS:
        stem = stem.with_suffix("")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", stem.name):
        raise ValueError(
            "`path_stem` must end in a portable file name (letters, digits, '_', '-', '.'); "
            f"got {stem.name!r}."
        )
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"`formats` must be among {FORMATS}; got {fmt!r}.")
    if not formats:
        raise ValueError(f"`formats` must name at least one of {FORMATS}; got none.")
    metadata = {"png": None, "pdf": {"CreationDate": None}, "svg": {"Date": None}}
    paths = []
    with mpl.rc_context({k: RC[k] for k in ("pdf.fonttype", "ps.fonttype", "svg.hashsalt")}):
        for fmt in formats:
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata[fmt])
            paths.append(write_atomic(stem.with_name(f"{stem.name}.{fmt}"), buffer.getvalue()))
    if close:
        plt.close(fig)
    return paths
