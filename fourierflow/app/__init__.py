"""The explorer: a local web app to look inside the dynamics, live, for any p.

`fourierflow explore` (or `launch()`) serves four views on 127.0.0.1: the exact flow, the main
flow and the per-frequency ODE side by side with their event times and gaps (`compare`); one
neuron's frequency lottery and `beta` over `(D0, time)`; sweeps of alignment times (loaded or
run here) with their scaling collapse and bound ratio; and trained runs (a checkpoint folder,
or a run trained here) with their history, grokking stages, neuron inspector, logits and
memorization classes. Every view exports its figure (PNG, SVG) and its numbers (CSV, JSON).

It needs the `app` extra: `pip install 'fourierflow[app]'` (Gradio, with Plotly charts).
"""

import os
import socket
import sys
import tempfile
from pathlib import Path

__all__ = ["build_app", "launch"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _require_gradio():
    # Gradio reports usage to its servers unless told not to; the explorer runs offline.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ImportError(
            "the explorer needs the `app` extra: pip install 'fourierflow[app]' (gradio, plotly)"
        ) from None


def build_app(workdir: str | os.PathLike | None = None, *, run_folder: str | None = None):
    """The explorer as a `gradio.Blocks`, not launched (e.g. to mount it in another app).

    **Arguments:**

    - `workdir`: where exports and runs trained in the app go (default: a new temporary folder).
    - `run_folder`: a checkpoint folder to show in the "Trained run" view.

    **Returns:**

    The `gradio.Blocks`. JAX's float64 mode is turned on (the library's solves need it).
    """
    _require_gradio()
    import jax

    jax.config.update("jax_enable_x64", True)
    from ._ui import build_app as build

    return build(_workdir(workdir), run_folder=run_folder)


def _workdir(workdir) -> Path:
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="fourierflow-explorer-"))
    workdir = Path(workdir).expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def port_free(host: str, port: int) -> bool:
    """Whether `port` can be bound on `host` now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    workdir: str | os.PathLike | None = None,
    run_folder: str | None = None,
    warmup: bool = True,
    open_browser: bool = False,
    block: bool = True,
):
    """Serve the explorer on `http://host:port`.

    **Arguments:**

    - `host`: the address to bind; the default, 127.0.0.1, serves this machine only. Any other
      address is warned about: whoever reaches it can run computations and read files the
      server can read (a sweep or checkpoint path).
    - `port`: the TCP port.
    - `workdir`, `run_folder`: as `build_app`.
    - `warmup`: compile the default views in the background at once.
    - `open_browser`: open the page in the default browser.
    - `block`: serve until interrupted (Ctrl-C); `False` returns at once, serving from a thread.

    **Returns:**

    The `gradio.Blocks` (when `block=False`; call its `close()` to stop).
    """
    if host not in _LOOPBACK:
        print(
            f"warning: the explorer binds {host}, not 127.0.0.1: anyone who can reach this "
            "address can run computations and read files this server can read.",
            file=sys.stderr,
        )
    workdir = _workdir(workdir)
    demo = build_app(workdir, run_folder=run_folder)
    from ._ui import CSS, warm_up

    if warmup:
        warm_up()
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=True,
        inbrowser=open_browser,
        quiet=True,
        ssr_mode=False,
        show_error=False,
        css=CSS,
        allowed_paths=[str(workdir)],
    )
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    print(f"fourierflow explorer: running on http://{shown}:{port} (Ctrl-C to stop)", flush=True)
    if not block:
        return demo
    try:
        demo.block_thread()
    finally:
        demo.close()
    return None
