"""A view's figure as data, drawn twice: interactive (Plotly, in the page) and static (matplotlib,
for export).

Each view of the explorer computes a `View`: panels of traces plus the numbers behind them.
The same `View` becomes the Plotly figure of the page (hover, zoom, legend toggles: the traces
of one method share a legend group, so one click hides that method in every panel), the PNG
and SVG files of its export (matplotlib, in the house style of `fourierflow.plots`: the
figures a paper would use, without a browser) and its CSV/JSON numbers. Drawing from data,
rather than converting one library's figure into the other's, keeps the two renderings and
the exported numbers the same by construction.
"""

import csv
import dataclasses
import io
import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._io import to_jsonable, write_atomic

__all__ = ["Line", "Heatmap", "Bars", "Panel", "View", "to_plotly", "to_matplotlib", "export"]

DASH = {"solid": ("solid", "-"), "dash": ("dash", "--"), "dot": ("dot", ":")}


@dataclasses.dataclass
class Line:
    """A line (or markers) `y(x)`; `group` is the legend entry it shares with other panels."""

    x: Any
    y: Any
    name: str
    color: str = "#444444"
    dash: Literal["solid", "dash", "dot"] = "solid"
    width: float = 2.0
    markers: bool | Literal["only"] = False
    group: str | None = None
    legend: bool = True
    hover: list[str] | None = None

    def columns(self) -> dict[str, np.ndarray]:
        return {"x": np.asarray(self.x, float), "y": np.asarray(self.y, float)}


@dataclasses.dataclass
class Bars:
    """Bars of height `y` at `x` (a histogram: `x` the bin centres, `width` the bin width)."""

    x: Any
    y: Any
    name: str
    color: Any = "#4c72b0"
    width: float | None = None
    group: str | None = None
    legend: bool = True
    hover: list[str] | None = None

    def columns(self) -> dict[str, np.ndarray]:
        return {"x": np.asarray(self.x, float), "y": np.asarray(self.y, float)}


@dataclasses.dataclass
class Heatmap:
    """`z[i, j]` at `(x[j], y[i])`; `categories` makes it a map of named classes (z = index)."""

    x: Any
    y: Any
    z: Any
    name: str
    colorscale: str = "Viridis"
    colorbar: str = ""
    categories: list[tuple[str, str]] | None = None  # (name, colour) per integer value of z
    contour: bool = False
    hover: Any = None  # (len(y), len(x)) strings

    def columns(self) -> dict[str, np.ndarray]:
        x, y = np.meshgrid(np.asarray(self.x, float), np.asarray(self.y, float))
        return {"x": x.ravel(), "y": y.ravel(), "z": np.asarray(self.z, float).ravel()}


@dataclasses.dataclass
class Panel:
    """One set of axes. `vlines`: `(x, label, colour, dash)` markers (event times, stages)."""

    title: str
    xlabel: str
    ylabel: str
    traces: list = dataclasses.field(default_factory=list)
    xlog: bool = False
    ylog: bool = False
    vlines: list[tuple[float, str, str, str]] = dataclasses.field(default_factory=list)
    yrange: tuple[float, float] | None = None


@dataclasses.dataclass
class View:
    """A view's figure and numbers.

    - `title`: the figure's title; `panels`, laid out in `cols` columns.
    - `numbers`: JSON-able results (event times, errors, counts): the JSON export.
    - `meta`: small facts the page carries in the Plotly layout (`layout.meta`), so that a
      reader (or a test) can tell which parameters a chart shows.
    - `summary`: Markdown shown next to the chart.
    """

    title: str
    panels: list[Panel]
    cols: int = 2
    numbers: dict = dataclasses.field(default_factory=dict)
    meta: dict = dataclasses.field(default_factory=dict)
    summary: str = ""

    @property
    def rows(self) -> int:
        return math.ceil(len(self.panels) / self.cols)


def _finite_or_none(a: np.ndarray) -> list:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, float).ravel()]


def _axis_name(i: int, axis: str) -> str:
    return axis if i == 0 else f"{axis}{i + 1}"


def _domains(view: View, plot_height: float):
    """The paper-coordinate domains `(x0, x1), (y0, y1)` of each panel, row-major from the top."""
    cols, rows = view.cols, view.rows
    # Room for a colour bar (and its labels) right of a map, before the next panel's axis.
    maps = any(isinstance(t, Heatmap) for p in view.panels for t in p.traces)
    hgap = 0.17 if maps else 0.09
    # 100 px between rows: the upper panel's x-axis title, then the lower panel's title.
    vgap = min(100 / plot_height, 0.5 / rows)
    w = (1 - (cols - 1) * hgap) / cols
    h = (1 - (rows - 1) * vgap) / rows
    out = []
    for i in range(len(view.panels)):
        r, c = divmod(i, cols)
        x0 = c * (w + hgap)
        y1 = 1 - r * (h + vgap)
        clip = lambda v: min(1.0, max(0.0, round(v, 9)))  # noqa: E731 - rounding error
        out.append(((clip(x0), clip(x0 + w)), (clip(y1 - h), clip(y1))))
    return out


_AXIS = dict(
    showgrid=True,
    gridcolor="#e6e6e6",
    zeroline=False,
    showline=True,
    linecolor="#444",
    ticks="outside",
    tickcolor="#444",
    automargin=True,
)


def plotly_dict(view: View, *, height_per_row: int = 300) -> dict:
    """The interactive figure of `view` as a Plotly figure dict (`{"data", "layout"}`).

    Built as plain data (no validation round trip through plotly's Python objects), so a view
    becomes a figure in milliseconds; `to_plotly` wraps it in a `plotly.graph_objects.Figure`.
    """
    data, shapes, annotations = [], [], []
    layout = {}
    shown = set()
    height = max(380, height_per_row * view.rows + 130)
    margin = dict(l=70, r=40, t=105, b=60)
    domains = _domains(view, height - margin["t"] - margin["b"])
    for i, (panel, (xd, yd)) in enumerate(zip(view.panels, domains, strict=True)):
        xa, ya = _axis_name(i, "x"), _axis_name(i, "y")
        for trace in panel.traces:
            group = getattr(trace, "group", None) or trace.name
            first = group not in shown and getattr(trace, "legend", True)
            if isinstance(trace, Line):
                y = np.asarray(trace.y, float)
                obj = dict(
                    type="scatter",
                    x=_finite_or_none(trace.x),
                    y=_finite_or_none(np.where(y > 0, y, np.nan) if panel.ylog else y),
                    name=trace.name,
                    mode="markers"
                    if trace.markers == "only"
                    else ("lines+markers" if trace.markers else "lines"),
                    line=dict(color=trace.color, dash=DASH[trace.dash][0], width=trace.width),
                    marker=dict(size=5, color=trace.color),
                )
            elif isinstance(trace, Bars):
                obj = dict(
                    type="bar",
                    x=_finite_or_none(trace.x),
                    y=_finite_or_none(trace.y),
                    name=trace.name,
                    marker=dict(color=trace.color),
                    opacity=0.8,
                )
                if trace.width is not None:
                    obj["width"] = trace.width
            else:
                obj = _plotly_heatmap(trace, xd, yd)
                first = False
            if isinstance(trace, Line | Bars):
                obj.update(legendgroup=group, showlegend=first)
                if trace.hover is not None:
                    obj.update(text=list(trace.hover), hovertemplate="%{text}<extra></extra>")
                    if isinstance(trace, Bars):
                        obj["textposition"] = "none"  # the text is for the hover only
                else:
                    obj["hovertemplate"] = f"{trace.name}<br>%{{x:.5g}}, %{{y:.5g}}<extra></extra>"
            if first:
                shown.add(group)
            obj.update(xaxis=xa, yaxis=ya)
            data.append(obj)
        layout[_axis_name(i, "xaxis")] = dict(
            _AXIS,
            domain=list(xd),
            anchor=ya,
            title=dict(text=panel.xlabel),
            type="log" if panel.xlog else "linear",
        )
        layout[_axis_name(i, "yaxis")] = dict(
            _AXIS,
            domain=list(yd),
            anchor=xa,
            title=dict(text=panel.ylabel),
            type="log" if panel.ylog else "linear",
        )
        if panel.yrange:
            lo, hi = panel.yrange
            layout[_axis_name(i, "yaxis")]["range"] = (
                [np.log10(lo), np.log10(hi)] if panel.ylog else [lo, hi]
            )
        annotations.append(
            dict(
                text=f"<b>{panel.title}</b>",
                x=(xd[0] + xd[1]) / 2,
                y=yd[1],
                xref="paper",
                yref="paper",
                xanchor="center",
                yanchor="bottom",
                showarrow=False,
                font=dict(size=13),
            )
        )
        for x, label, color, dash in panel.vlines:
            if not np.isfinite(x):
                continue
            shapes.append(
                dict(
                    type="line",
                    x0=float(x),
                    x1=float(x),
                    y0=0,
                    y1=1,
                    xref=xa,
                    yref=f"{ya} domain",
                    line=dict(color=color, dash=DASH[dash][0], width=1.2),
                )
            )
            if label:
                annotations.append(
                    dict(
                        text=label,
                        x=float(x),
                        y=0.02,
                        xref=xa,
                        yref=f"{ya} domain",
                        textangle=-90,
                        xanchor="right",
                        yanchor="bottom",
                        showarrow=False,
                        font=dict(size=10, color=color),
                    )
                )
    layout.update(
        title=dict(
            text=view.title,
            x=0.01,
            xanchor="left",
            y=0.995,
            yref="container",
            yanchor="top",
            font=dict(size=15),
        ),
        height=height,
        margin=margin,
        # Under the title, above the panels' titles (in pixels: 34 px from the top).
        legend=dict(
            orientation="h",
            yanchor="top",
            y=1 - 34 / height,
            yref="container",
            x=0,
            xanchor="left",
            font=dict(size=11),
        ),
        meta=to_jsonable(view.meta),
        barmode="overlay",
        hovermode="closest",
        paper_bgcolor="white",
        plot_bgcolor="white",
        font=dict(family="system-ui, sans-serif", size=12, color="#222"),
        shapes=shapes,
        annotations=annotations,
        template={},
    )
    return {"data": data, "layout": layout}


def to_plotly(view: View, *, height_per_row: int = 300):
    """The interactive figure of `view` (a `plotly.graph_objects.Figure`)."""
    import plotly.graph_objects as go

    # The dict is built from valid parts; skipping plotly's validation saves seconds a figure.
    return go.Figure(plotly_dict(view, height_per_row=height_per_row), _validate=False)


def _plotly_heatmap(trace: Heatmap, xdomain, ydomain) -> dict:
    z = np.asarray(trace.z, float)
    # Each colour bar beside its own panel (by default they would all stack at the right).
    where = dict(
        x=xdomain[1] + 0.005,
        y=(ydomain[0] + ydomain[1]) / 2,
        len=ydomain[1] - ydomain[0],
        thickness=12,
    )
    obj = dict(
        type="contour" if trace.contour else "heatmap",
        x=_finite_or_none(trace.x),
        y=_finite_or_none(trace.y),
        z=[_finite_or_none(r) for r in z],
        name=trace.name,
        showscale=True,
    )
    if trace.hover is not None:
        obj.update(text=[list(r) for r in trace.hover], hovertemplate="%{text}<extra></extra>")
    if trace.categories:
        n = len(trace.categories)
        # A stepped colour scale: value i (of 0..n-1) gets the i-th colour.
        scale = []
        for i, (_, color) in enumerate(trace.categories):
            scale += [[i / n, color], [(i + 1) / n, color]]
        obj.update(
            colorscale=scale,
            zmin=-0.5,
            zmax=n - 0.5,
            colorbar=dict(
                tickvals=list(range(n)), ticktext=[name for name, _ in trace.categories], **where
            ),
        )
    else:
        obj.update(
            colorscale=trace.colorscale, colorbar=dict(title=dict(text=trace.colorbar), **where)
        )
    return obj


def to_matplotlib(view: View):
    """The static figure of `view` (a matplotlib `Figure`, in the house style, page width)."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap

    from ..plots._style import PAGE_WIDTH, RC

    with mpl.rc_context(RC):
        height = 2.0 * view.rows + 0.6
        fig = plt.figure(figsize=(PAGE_WIDTH, height), layout="constrained")
        axes = fig.subplots(view.rows, view.cols, squeeze=False).ravel()
        for ax in axes[len(view.panels) :]:
            ax.set_visible(False)
        handles = {}
        for ax, panel in zip(axes, view.panels, strict=False):
            for trace in panel.traces:
                if isinstance(trace, Line):
                    x, y = np.asarray(trace.x, float), np.asarray(trace.y, float)
                    if panel.ylog:
                        y = np.where(y > 0, y, np.nan)
                    (h,) = ax.plot(
                        x,
                        y,
                        ls="none" if trace.markers == "only" else DASH[trace.dash][1],
                        color=trace.color,
                        lw=trace.width * 0.6,
                        marker="o" if trace.markers else None,
                        ms=2.5 if trace.markers != "only" else 1.5,
                        alpha=0.6 if trace.markers == "only" else 1.0,
                        label=trace.name,
                    )
                    if trace.legend:
                        handles.setdefault(trace.group or trace.name, (h, trace.name))
                elif isinstance(trace, Bars):
                    x = np.asarray(trace.x, float)
                    width = trace.width or (np.min(np.diff(x)) * 0.8 if x.size > 1 else 0.8)
                    h = ax.bar(
                        x,
                        np.asarray(trace.y, float),
                        width=width,
                        color=trace.color,
                        alpha=0.75,
                        label=trace.name,
                    )
                    if trace.legend:
                        handles.setdefault(trace.group or trace.name, (h, trace.name))
                else:
                    z = np.asarray(trace.z, float)
                    if trace.categories:
                        n = len(trace.categories)
                        cmap = ListedColormap([c for _, c in trace.categories])
                        norm = BoundaryNorm(np.arange(n + 1) - 0.5, n)
                        im = ax.pcolormesh(trace.x, trace.y, z, cmap=cmap, norm=norm)
                        bar = fig.colorbar(im, ax=ax, ticks=range(n), aspect=15, pad=0.02)
                        bar.ax.set_yticklabels([name for name, _ in trace.categories])
                    else:
                        cmap = trace.colorscale.lower()
                        cmap = cmap if cmap in mpl.colormaps else "viridis"
                        if trace.contour:
                            im = ax.contourf(trace.x, trace.y, z, levels=15, cmap=cmap)
                        else:
                            im = ax.pcolormesh(trace.x, trace.y, z, cmap=cmap, shading="auto")
                        fig.colorbar(im, ax=ax, label=trace.colorbar, aspect=15, pad=0.02)
            for x, _, color, dash in panel.vlines:
                if np.isfinite(x):
                    ax.axvline(x, color=color, ls=DASH[dash][1], lw=0.8, zorder=0)
            ax.set_title(panel.title)
            ax.set_xlabel(panel.xlabel)
            ax.set_ylabel(panel.ylabel)
            if panel.xlog:
                ax.set_xscale("log")
            if panel.ylog:
                ax.set_yscale("log")
            if panel.yrange:
                ax.set_ylim(*panel.yrange)
            ax.tick_params(which="both", labelsize=RC["xtick.labelsize"])
        if handles:
            fig.legend(
                [h for h, _ in handles.values()],
                [name for _, name in handles.values()],
                loc="outside upper center",
                ncol=min(len(handles), 5),
                title=view.title,
            )
        else:
            fig.suptitle(view.title)
    return fig


def to_rows(view: View) -> list[dict]:
    """The traces' numbers in long form: one row per point (`panel, trace, x, y[, z]`)."""
    rows = []
    for panel in view.panels:
        for trace in panel.traces:
            cols = trace.columns()
            n = len(cols["x"])
            for j in range(n):
                row = {"panel": panel.title, "trace": trace.name}
                row.update({k: float(v[j]) for k, v in cols.items()})
                rows.append(row)
    return rows


def to_json(view: View) -> str:
    """The view's numbers and series as JSON (non-finite values as `null`)."""
    series = [
        {
            "panel": panel.title,
            "trace": trace.name,
            **{k: v for k, v in trace.columns().items()},
        }
        for panel in view.panels
        for trace in panel.traces
    ]
    doc = {"title": view.title, "meta": view.meta, "numbers": view.numbers, "series": series}
    return json.dumps(to_jsonable(doc), indent=1, allow_nan=False)


def to_csv(view: View) -> str:
    """`to_rows` as CSV text (columns `panel, trace, x, y, z`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ["panel", "trace", "x", "y", "z"], lineterminator="\n")
    writer.writeheader()
    for row in to_rows(view):
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def export(view: View, folder: str | Path, stem: str) -> list[Path]:
    """Write `stem.png`, `stem.svg` (the figure), `stem.csv` and `stem.json` (the numbers)."""
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fig = to_matplotlib(view)
    try:
        paths = save_figure(fig, folder / stem, ("png", "svg"), dpi=200, close=False)
    finally:
        plt.close(fig)
    paths.append(write_atomic(folder / f"{stem}.csv", to_csv(view).encode()))
    paths.append(write_atomic(folder / f"{stem}.json", to_json(view).encode()))
    return [Path(p) for p in paths]
