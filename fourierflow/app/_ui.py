"""The page: four views (tabs) in Gradio, each a chart, its numbers, an export and a status line.

Every handler turns a bad input into a line in the view's status (`Error: ...`) and leaves the
chart as it was; an unexpected failure is reported the same way (its traceback goes to the
server's log, never to the page). Numbers update on Enter or on leaving the field, choices at
once; a request that is overtaken by a newer one is dropped (`trigger_mode="always_last"`).
Long computations show a progress bar; Stop ends them (a training process is ended at once, a
sweep after its current shard; a solve being compiled finishes in the background, but the
page is free again at once).
"""

import logging
import threading
import time
import traceback
from pathlib import Path

from . import _dynamics, _lottery, _runs, _sweeps
from ._figure import export, to_plotly

log = logging.getLogger("fourierflow.app")

CSS = """
.ff-status p { margin: 0.2em 0; }
.ff-status .error, #dynamics-status strong, .ff-error { color: #b00020; }
footer { display: none !important; }
"""

INTRO = (
    "## fourierflow explorer\n"
    "The training dynamics of a two-layer network learning modular addition, live: the exact "
    "gradient flow, the main flow and the per-frequency ODE side by side, the frequency "
    "lottery, sweeps of alignment times and trained runs. Charts: hover for values, drag to "
    "zoom (double-click to reset), click a legend entry to hide it. Numbers apply on Enter."
)


def _error(message: str) -> str:
    return f"**Error:** {message}"


def _failure(error: BaseException) -> str:
    """The page's line for an exception: the message of a bad input, or an internal error."""
    if isinstance(error, ValueError | TypeError | FileNotFoundError | KeyError):
        text = str(error).strip().strip('"') or type(error).__name__
        return _error(text)
    log.error("explorer: %s", "".join(traceback.format_exception(error)))
    return _error(
        f"the computation failed ({type(error).__name__}: {error}); the server's log has the "
        "details."
    )


class _Sessions:
    """Per-session cancel flags and training processes (keyed by Gradio's session hash)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.cancel: dict[tuple[str, str], threading.Event] = {}
        self.process: dict[str, object] = {}

    def flag(self, session: str, view: str) -> threading.Event:
        with self._lock:
            event = self.cancel.setdefault((session, view), threading.Event())
        return event

    def stop(self, session: str, view: str) -> None:
        self.flag(session, view).set()
        if view == "run":
            with self._lock:
                proc = self.process.pop(session, None)
            _end(proc)


def _end(proc) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - a process that ignores SIGTERM
            proc.kill()


def _session(request) -> str:
    return getattr(request, "session_hash", None) or "default"


def build_app(workdir: str | Path, *, run_folder: str | None = None):
    """The explorer's `gradio.Blocks` (not launched), writing exports and runs in `workdir`."""
    import gradio as gr

    workdir = Path(workdir)
    sessions = _Sessions()
    skip = gr.skip

    def exported(view, stem):
        if view is None:
            return skip(), _error("nothing to export yet: compute the view first.")
        folder = workdir / "exports" / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        n = 0
        while folder.exists():
            n += 1
            folder = folder.with_name(f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
        views = view if isinstance(view, list | tuple) else [view]
        stems = [stem] if len(views) == 1 else [f"{stem}-{i + 1}" for i in range(len(views))]
        paths = []
        for v, s in zip(views, stems, strict=True):
            if v is not None:
                paths += export(v, folder, s)
        files = gr.File(value=[str(p) for p in paths], visible=True)
        return files, f"Exported {len(paths)} files to {folder}."

    def view_column(name: str, *, stop: bool = True):
        """Status line, chart, summary, export and (optionally) stop, for one view."""
        status = gr.Markdown(elem_id=f"{name}-status", elem_classes=["ff-status"])
        plot = gr.Plot(elem_id=f"{name}-plot", show_label=False)
        summary = gr.Markdown(elem_id=f"{name}-summary")
        with gr.Row():
            stop_btn = gr.Button(
                "Stop", elem_id=f"{name}-stop", variant="stop", size="sm", visible=stop
            )
            export_btn = gr.Button(
                "Export figure (PNG, SVG) and numbers (CSV, JSON)",
                elem_id=f"{name}-export",
                size="sm",
            )
        files = gr.File(
            label="exported files",
            file_count="multiple",
            interactive=False,
            elem_id=f"{name}-files",
            visible=False,
        )
        return status, plot, summary, stop_btn, export_btn, files

    with gr.Blocks(title="fourierflow explorer") as demo:
        gr.Markdown(INTRO)
        with gr.Tabs(elem_id="tabs") as tabs:
            # ---------------------------------------------------------------- dynamics
            with gr.Tab("Dynamics", id="dynamics", elem_id="tab-dynamics"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        d = _dynamics.DynamicsParams()
                        d_p = gr.Number(
                            d.p, label="p (odd modulus >= 3)", precision=0, elem_id="dynamics-p"
                        )
                        d_width = gr.Number(
                            d.width, label="width (neurons)", precision=0, elem_id="dynamics-width"
                        )
                        d_kappa = gr.Number(
                            d.kappa, label="kappa (initial magnitude)", elem_id="dynamics-kappa"
                        )
                        d_init = gr.Radio(
                            list(_dynamics.INITS),
                            value=d.init,
                            label="init",
                            elem_id="dynamics-init",
                        )
                        d_seed = gr.Number(
                            d.seed, label="seed", precision=0, elem_id="dynamics-seed"
                        )
                        d_neuron = gr.Number(
                            d.neuron, label="neuron shown", precision=0, elem_id="dynamics-neuron"
                        )
                        d_set = gr.Checkbox(
                            True,
                            label="set this neuron's phases (single-frequency)",
                            elem_id="dynamics-set-phases",
                        )
                        d_phi = gr.Slider(
                            -3.14,
                            3.14,
                            value=0.5,
                            step=0.01,
                            label="phi0 (input phase)",
                            elem_id="dynamics-phi0",
                        )
                        d_psi = gr.Slider(
                            -3.14,
                            3.14,
                            value=0.7,
                            step=0.01,
                            label="psi0 (output phase); D0 = 2 phi0 - psi0",
                            elem_id="dynamics-psi0",
                        )
                        with gr.Accordion("events and loss", open=False):
                            d_delta = gr.Number(
                                d.delta,
                                label="delta (alignment |sin D| <=)",
                                elem_id="dynamics-delta",
                            )
                            d_cend = gr.Number(
                                d.c_end_over_kappa,
                                label="end of stage: max |weight| = this x kappa",
                                elem_id="dynamics-cend",
                            )
                            d_red = gr.Radio(
                                ["sum", "mean"],
                                value=d.reduction,
                                label="loss reduction",
                                elem_id="dynamics-reduction",
                            )
                        d_run = gr.Button("Run", variant="primary", elem_id="dynamics-run")
                    with gr.Column(scale=4):
                        d_status, d_plot, d_summary, d_stop, d_export, d_files = view_column(
                            "dynamics"
                        )
                d_view = gr.State(None)
            # ---------------------------------------------------------------- lottery
            with gr.Tab("Lottery", id="lottery", elem_id="tab-lottery") as lottery_tab:
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        l_p = gr.Number(
                            23, label="p (odd modulus >= 3)", precision=0, elem_id="lottery-p"
                        )
                        l_kappa = gr.Number(0.02, label="kappa", elem_id="lottery-kappa")
                        l_init = gr.Radio(
                            list(_lottery.LOTTERY_INITS),
                            value="multi-frequency",
                            label="init",
                            elem_id="lottery-init",
                        )
                        l_seed = gr.Number(0, label="seed", precision=0, elem_id="lottery-seed")
                        l_run = gr.Button("Run", variant="primary", elem_id="lottery-run")
                    with gr.Column(scale=4):
                        l_status, l_plot, l_summary, l_stop, l_export, l_files = view_column(
                            "lottery"
                        )
                l_view = gr.State(None)
            # ---------------------------------------------------------------- sweeps
            with gr.Tab("Sweeps", id="sweeps", elem_id="tab-sweeps") as sweeps_tab:
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        gr.Markdown("**Open a saved sweep** (`SweepResult`, `.npz`)")
                        s_path = gr.Textbox(
                            label="path on the server",
                            placeholder="out/sweep/sweep.npz",
                            elem_id="sweeps-path",
                        )
                        s_load = gr.Button("Open", elem_id="sweeps-open")
                        s_upload = gr.File(
                            label="or upload",
                            file_types=[".npz"],
                            type="filepath",
                            elem_id="sweeps-upload",
                            height=90,
                        )
                        gr.Markdown(
                            "**Or run a small alignment sweep** (D0 uniform, kappa log-uniform)"
                        )
                        s_n = gr.Number(2000, label="n", precision=0, elem_id="sweeps-n")
                        s_p = gr.Number(23, label="p", precision=0, elem_id="sweeps-p")
                        s_delta = gr.Number(0.01, label="delta", elem_id="sweeps-delta")
                        with gr.Row():
                            s_kmin = gr.Number(1e-3, label="kappa min", elem_id="sweeps-kmin")
                            s_kmax = gr.Number(1e-1, label="kappa max", elem_id="sweeps-kmax")
                        s_method = gr.Radio(
                            ["closed_form", "ode"],
                            value="closed_form",
                            label="method",
                            elem_id="sweeps-method",
                        )
                        s_seed = gr.Number(0, label="seed", precision=0, elem_id="sweeps-seed")
                        s_run = gr.Button("Run sweep", variant="primary", elem_id="sweeps-run")
                    with gr.Column(scale=4):
                        s_outcomes = gr.CheckboxGroup(
                            [], label="show outcomes", elem_id="sweeps-outcomes"
                        )
                        s_status, s_plot, s_summary, s_stop, s_export, s_files = view_column(
                            "sweeps"
                        )
                s_view, s_result = gr.State(None), gr.State(None)
            # ---------------------------------------------------------------- trained run
            with gr.Tab("Trained run", id="run", elem_id="tab-run") as run_tab:
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        gr.Markdown(
                            "**Open a checkpoint folder** (`fourierflow train`'s "
                            "`OUT/checkpoints`, or any `checkpoint_dir`)"
                        )
                        r_folder = gr.Textbox(
                            label="folder on the server",
                            value=run_folder or "",
                            elem_id="run-folder",
                        )
                        r_open = gr.Button("Open", elem_id="run-open")
                        gr.Markdown("**Or train a small one here**")
                        t = _runs.TRAIN_DEFAULTS
                        import fourierflow as ff

                        r_config = gr.Dropdown(
                            list(ff.CONFIGS),
                            value=t["config"],
                            label="configuration",
                            elem_id="run-config",
                        )
                        with gr.Row():
                            r_p = gr.Number(t["p"], label="p", precision=0, elem_id="run-p")
                            r_width = gr.Number(
                                t["width"], label="width", precision=0, elem_id="run-width"
                            )
                        r_steps = gr.Number(
                            t["steps"], label="steps", precision=0, elem_id="run-steps"
                        )
                        with gr.Row():
                            r_lr = gr.Number(t["lr"], label="lr", elem_id="run-lr")
                            r_wd = gr.Number(
                                t["weight_decay"], label="weight decay", elem_id="run-wd"
                            )
                        with gr.Row():
                            r_frac = gr.Number(
                                t["train_fraction"], label="train fraction", elem_id="run-frac"
                            )
                            r_seed = gr.Number(
                                t["seed"], label="seed", precision=0, elem_id="run-seed"
                            )
                        r_train = gr.Button("Train", variant="primary", elem_id="run-train")
                    with gr.Column(scale=4):
                        r_status, r_hplot, r_hsummary, r_stop, r_export, r_files = view_column(
                            "run"
                        )
                        with gr.Row():
                            r_snap = gr.Slider(
                                0, 1, value=0, step=1, label="snapshot", elem_id="run-snapshot"
                            )
                            r_neuron = gr.Number(
                                0, label="neuron", precision=0, elem_id="run-neuron"
                            )
                            r_x = gr.Number(3, label="x", precision=0, elem_id="run-x")
                            r_y = gr.Number(5, label="y", precision=0, elem_id="run-y")
                        r_iplot = gr.Plot(elem_id="run-inspect-plot", show_label=False)
                        r_isummary = gr.Markdown(elem_id="run-inspect-summary")
                r_state = gr.State(None)
                r_views = gr.State(None)

        # ------------------------------------------------------------------------ handlers
        def on_dynamics(
            p,
            width,
            kappa,
            init,
            seed,
            neuron,
            set_phases,
            phi0,
            psi0,
            delta,
            c_end,
            reduction,
            progress=gr.Progress(track_tqdm=True),
        ):
            try:
                params = _dynamics.DynamicsParams.checked(
                    p=p,
                    width=width,
                    kappa=kappa,
                    init=init,
                    seed=seed,
                    neuron=neuron,
                    set_phases=set_phases,
                    phi0=phi0,
                    psi0=psi0,
                    delta=delta,
                    c_end_over_kappa=c_end,
                    reduction=reduction,
                )
                progress(
                    0,
                    desc=f"solving p = {params.p}, width {params.width} (a new p or "
                    "width compiles first: tens of seconds)",
                )
                t0 = time.perf_counter()
                view = _dynamics.dynamics_view(params, progress=True)
                fig = to_plotly(view)
                dt = time.perf_counter() - t0
            except Exception as error:  # noqa: BLE001 - reported in the page
                return skip(), skip(), _failure(error), skip()
            return fig, view.summary, f"Updated in {dt:.2f} s.", view

        d_inputs = [
            d_p,
            d_width,
            d_kappa,
            d_init,
            d_seed,
            d_neuron,
            d_set,
            d_phi,
            d_psi,
            d_delta,
            d_cend,
            d_red,
        ]
        d_outputs = [d_plot, d_summary, d_status, d_view]
        d_events = gr.on(
            [
                d_run.click,
                d_init.change,
                d_set.change,
                d_red.change,
                d_phi.release,
                d_psi.release,
            ]
            + [c.submit for c in (d_p, d_width, d_kappa, d_seed, d_neuron, d_delta, d_cend)]
            + [c.blur for c in (d_p, d_width, d_kappa, d_seed, d_neuron, d_delta, d_cend)],
            on_dynamics,
            d_inputs,
            d_outputs,
            trigger_mode="always_last",
        )
        d_stop.click(None, None, None, cancels=[d_events])
        d_export.click(lambda v: exported(v, "dynamics"), d_view, [d_files, d_status])

        def on_lottery(p, kappa, init, seed, progress=gr.Progress(track_tqdm=True)):
            try:
                progress(0, desc="solving the per-frequency ODEs (a new p compiles first)")
                t0 = time.perf_counter()
                view = _lottery.lottery_view(p, kappa, init, seed)
                fig = to_plotly(view)
                dt = time.perf_counter() - t0
            except Exception as error:  # noqa: BLE001
                return skip(), skip(), _failure(error), skip()
            return fig, view.summary, f"Updated in {dt:.2f} s.", view

        l_events = gr.on(
            [l_run.click, lottery_tab.select, l_init.change]
            + [c.submit for c in (l_p, l_kappa, l_seed)]
            + [c.blur for c in (l_p, l_kappa, l_seed)],
            on_lottery,
            [l_p, l_kappa, l_init, l_seed],
            [l_plot, l_summary, l_status, l_view],
            trigger_mode="always_last",
        )

        def on_load(
            p,
            width,
            kappa,
            init,
            seed,
            neuron,
            set_phases,
            phi0,
            psi0,
            delta,
            c_end,
            reduction,
            lp,
            lkappa,
            linit,
            lseed,
            request: gr.Request,
            progress=gr.Progress(track_tqdm=True),
        ):
            """The first view: `?tab=NAME` opens that tab (dynamics by default) and computes
            the dynamics or the lottery view; the others wait for their Run button."""
            d_values = (
                p,
                width,
                kappa,
                init,
                seed,
                neuron,
                set_phases,
                phi0,
                psi0,
                delta,
                c_end,
                reduction,
            )
            l_values = (lp, lkappa, linit, lseed)
            params = getattr(request, "query_params", None) or {}
            tab = params.get("tab", "dynamics")
            tab = tab if tab in ("dynamics", "lottery", "sweeps", "run") else "dynamics"
            dyn = on_dynamics(*d_values, progress=progress) if tab == "dynamics" else (skip(),) * 4
            lot = on_lottery(*l_values, progress=progress) if tab == "lottery" else (skip(),) * 4
            return (*dyn, *lot, gr.Tabs(selected=tab))

        load_event = demo.load(
            on_load,
            d_inputs + [l_p, l_kappa, l_init, l_seed],
            d_outputs + [l_plot, l_summary, l_status, l_view, tabs],
        )
        d_stop.click(None, None, None, cancels=[load_event])
        l_stop.click(None, None, None, cancels=[l_events, load_event])
        l_export.click(lambda v: exported(v, "lottery"), l_view, [l_files, l_status])

        s_outputs = [s_plot, s_summary, s_status, s_view, s_result, s_outcomes]

        def show_sweep(result, source, status):
            view = _sweeps.sweep_view(result, None, source=source)
            names = [name for _, name in _sweeps.outcome_choices(result)]
            choices = gr.CheckboxGroup(choices=_sweeps.outcome_choices(result), value=names)
            return to_plotly(view), view.summary, status, view, result, choices

        def on_open(path):
            try:
                result = _sweeps.load_result(path)
                return show_sweep(result, Path(str(path)).name, f"Opened {path}.")
            except Exception as error:  # noqa: BLE001
                return skip(), skip(), _failure(error), skip(), skip(), skip()

        def on_run_sweep(
            n, p, delta, kmin, kmax, method, seed, request: gr.Request, progress=gr.Progress()
        ):
            flag = sessions.flag(_session(request), "sweeps")
            flag.clear()
            try:
                _sweeps.check_sweep(n, p, delta, kmin, kmax, method, seed)
                progress(0, desc="sweep: compiling the first shard")
                t0 = time.perf_counter()
                result = None
                for done, total, result in _sweeps.run_alignment_sweep(
                    n, p, delta, kmin, kmax, method, seed
                ):
                    progress((done, total), desc=f"sweep: shard {done} of {total}")
                    if flag.is_set():
                        yield show_sweep(
                            result, "run here (stopped)", f"Stopped after {done} of {total} shards."
                        )
                        return
                    if done < total and done % 4 == 1:
                        yield show_sweep(result, "run here", f"Shard {done} of {total}...")
                dt = time.perf_counter() - t0
                yield show_sweep(result, "run here", f"Swept {result.n} elements in {dt:.2f} s.")
            except Exception as error:  # noqa: BLE001
                yield skip(), skip(), _failure(error), skip(), skip(), skip()

        def on_filter(result, chosen):
            if result is None:
                return skip(), skip(), skip(), skip()
            try:
                view = _sweeps.sweep_view(result, list(chosen or []))
                return to_plotly(view), view.summary, f"Showing {view.meta['n_shown']}.", view
            except Exception as error:  # noqa: BLE001
                return skip(), skip(), _failure(error), skip()

        def on_sweeps_tab(
            result,
            n,
            p,
            delta,
            kmin,
            kmax,
            method,
            seed,
            request: gr.Request,
            progress=gr.Progress(),
        ):
            if result is not None:
                yield skip(), skip(), skip(), skip(), skip(), skip()
                return
            yield from on_run_sweep(n, p, delta, kmin, kmax, method, seed, request, progress)

        s_run_inputs = [s_n, s_p, s_delta, s_kmin, s_kmax, s_method, s_seed]
        [  # noqa: B018 - events registered on their components
            s_load.click(on_open, s_path, s_outputs),
            s_path.submit(on_open, s_path, s_outputs),
            s_upload.upload(on_open, s_upload, s_outputs),
            s_run.click(on_run_sweep, s_run_inputs, s_outputs, trigger_mode="once"),
            sweeps_tab.select(
                on_sweeps_tab, [s_result] + s_run_inputs, s_outputs, trigger_mode="once"
            ),
        ]
        s_outcomes.input(on_filter, [s_result, s_outcomes], [s_plot, s_summary, s_status, s_view])

        def stop_sweep(request: gr.Request):
            sessions.stop(_session(request), "sweeps")

        s_stop.click(stop_sweep, None, None)
        s_export.click(lambda v: exported(v, "sweeps"), s_view, [s_files, s_status])

        r_outputs = [r_hplot, r_hsummary, r_status, r_state, r_snap, r_iplot, r_isummary, r_views]

        def show_run(run, status, neuron, x, y):
            index = len(run.snap_steps) - 1
            hview = _runs.history_view(run, index)
            neuron = min(int(neuron or 0), run.width - 1)
            x, y = int(x or 0) % run.p, int(y or 0) % run.p
            sview = _runs.snapshot_view(run, index, neuron, x, y)
            t_mem, t_gen = run.stages
            hsummary = (
                f"`{run.folder}` ({run.checkpoint}): p = {run.p}, width {run.width}, "
                f"{run.activation}, {run.step} steps, {len(run.snap_steps)} snapshots. Grokking "
                f"stages: memorized at step {t_mem if t_mem is not None else '-'}, generalized "
                f"at step {t_gen if t_gen is not None else '-'}."
                + ("" if not run.notes else " Note: " + " ".join(run.notes))
            )
            slider = gr.Slider(
                minimum=0,
                maximum=max(index, 1),
                value=index,
                step=1,
                label=f"snapshot (0..{index}: steps {run.snap_steps[0]}..{run.snap_steps[-1]})",
            )
            return (
                to_plotly(hview),
                hsummary,
                status,
                run,
                slider,
                to_plotly(sview),
                sview.summary,
                [hview, sview],
            )

        def on_open_run(folder, neuron, x, y):
            try:
                run = _runs.read_run(folder)
                return show_run(run, f"Opened {run.folder}.", neuron, x, y)
            except Exception as error:  # noqa: BLE001
                return (skip(),) * 2 + (_failure(error),) + (skip(),) * 5

        def on_train(
            config,
            p,
            width,
            steps,
            lr,
            wd,
            frac,
            seed,
            neuron,
            x,
            y,
            request: gr.Request,
            progress=gr.Progress(),
        ):
            session = _session(request)
            try:
                settings = _runs.check_training(config, p, width, steps, lr, wd, frac, seed)
            except Exception as error:  # noqa: BLE001
                yield (skip(),) * 2 + (_failure(error),) + (skip(),) * 5
                return
            folder = workdir / "runs" / f"{config}-{time.strftime('%Y%m%d-%H%M%S')}"
            n = 0
            while folder.exists():
                n += 1
                folder = folder.with_name(f"{config}-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
            total = settings["overrides"]["steps"]
            _end(sessions.process.pop(session, None))  # one training per session
            flag = sessions.flag(session, "run")
            flag.clear()
            proc = _runs.start_training(settings, folder)
            sessions.process[session] = proc
            progress(0, desc="training: starting (compiling)")
            yield (
                (skip(),) * 2
                + (f"Training in {folder}: starting (compiling the first chunk)...",)
                + (skip(),) * 5
            )
            shown, t0 = None, time.perf_counter()
            try:
                while True:
                    code = proc.poll()
                    run = None
                    try:
                        run = _runs.read_run(folder)
                    except ValueError:
                        pass
                    if run is not None and run.step != shown and code is None:
                        shown = run.step
                        progress(run.step / total, desc=f"training: step {run.step} of {total}")
                        hview = _runs.history_view(run)
                        yield (
                            to_plotly(hview),
                            skip(),
                            f"Training in {folder}: step {run.step} of {total}...",
                            skip(),
                            skip(),
                            skip(),
                            skip(),
                            skip(),
                        )
                    if code is not None:
                        break
                    if flag.is_set():
                        _end(proc)
                        break
                    time.sleep(0.4)
                if flag.is_set():
                    status = f"Stopped at step {shown or 0} of {total} (checkpoints in {folder})."
                elif proc.returncode != 0:
                    failed = _error(f"training failed: {_runs.worker_error(folder)}")
                    yield (skip(),) * 2 + (failed,) + (skip(),) * 5
                    return
                else:
                    status = (
                        f"Trained {total} steps in {time.perf_counter() - t0:.1f} s "
                        f"(checkpoints in {folder})."
                    )
                try:
                    run = _runs.read_run(folder)
                except ValueError as error:
                    if flag.is_set():  # stopped before its first checkpoint
                        status = f"Stopped at step 0 of {total}, before the first checkpoint."
                    yield (
                        (skip(),) * 2
                        + ((status if flag.is_set() else _failure(error)),)
                        + (skip(),) * 5
                    )
                    return
                yield show_run(run, status, neuron, x, y)
            except Exception as error:  # noqa: BLE001
                yield (skip(),) * 2 + (_failure(error),) + (skip(),) * 5
            finally:
                _end(proc)
                sessions.process.pop(session, None)

        def on_inspect(run, index, neuron, x, y, views):
            if run is None:
                return skip(), skip(), skip(), skip(), skip()
            try:
                index = int(round(float(index)))
                sview = _runs.snapshot_view(run, index, neuron, x, y)
                hview = _runs.history_view(run, index)
            except Exception as error:  # noqa: BLE001
                return skip(), skip(), _failure(error), skip(), skip()
            return (
                to_plotly(sview),
                sview.summary,
                f"Snapshot at step {sview.meta['step']}.",
                to_plotly(hview),
                [hview, sview],
            )

        [  # noqa: B018
            r_open.click(on_open_run, [r_folder, r_neuron, r_x, r_y], r_outputs),
            r_folder.submit(on_open_run, [r_folder, r_neuron, r_x, r_y], r_outputs),
        ]
        r_train.click(
            on_train,
            [r_config, r_p, r_width, r_steps, r_lr, r_wd, r_frac, r_seed, r_neuron, r_x, r_y],
            r_outputs,
            trigger_mode="once",
        )
        gr.on(
            [r_snap.release]
            + [c.submit for c in (r_neuron, r_x, r_y)]
            + [c.blur for c in (r_neuron, r_x, r_y)],
            on_inspect,
            [r_state, r_snap, r_neuron, r_x, r_y, r_views],
            [r_iplot, r_isummary, r_status, r_hplot, r_views],
            trigger_mode="always_last",
        )
        if run_folder:
            run_tab.select(
                on_open_run, [r_folder, r_neuron, r_x, r_y], r_outputs, trigger_mode="once"
            )

        def stop_run(request: gr.Request):
            sessions.stop(_session(request), "run")

        # No Gradio cancel here: the loop sees the ended process and shows the run so far.
        r_stop.click(stop_run, None, None)
        r_export.click(lambda v: exported(v, "run"), r_views, [r_files, r_status])
    return demo


def warm_up() -> None:
    """Compile the default views in the background (a page opened meanwhile waits for them
    instead of compiling them a second time)."""

    def work():
        try:
            _dynamics.dynamics_view(_dynamics.DynamicsParams())
            _lottery.lottery_view(23, 0.02, "multi-frequency", 0)
        except Exception:  # noqa: BLE001 - the page reports its own errors
            log.exception("explorer: warm-up failed")

    threading.Thread(target=work, name="fourierflow-warm-up", daemon=True).start()
