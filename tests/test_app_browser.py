"""The explorer in a real browser: `fourierflow explore` on a free loopback port, driven by
Playwright in Debian's Chromium.

Each view loads; a parameter change updates its chart with the numbers the library gives
(read back from the page's Plotly figure, or from the view's exported JSON); a bad input
shows its message in the page. The time from a parameter change to the updated chart of the
dynamics view (p = 23, width 64) is measured and printed. With `FOURIERFLOW_SCREENSHOTS=DIR`
the tests write the screenshots of the docs (`DIR/explorer-*.png`).

Skipped (with the reason) only when Chromium or the Playwright package is absent; `.ci/run`
installs both.
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import diffrax as dfx
import jax.random as jr
import numpy as np
import pytest

import fourierflow as ff

CHROMIUM = os.environ.get("FOURIERFLOW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SHOTS = os.environ.get("FOURIERFLOW_SCREENSHOTS")
COMPILE_S = 400  # a first compile on a busy 2-core machine


def _absent(reason: str):
    # CI installs both (.ci/run sets FOURIERFLOW_REQUIRE_BROWSER): there a skip would hide them.
    if os.environ.get("FOURIERFLOW_REQUIRE_BROWSER"):
        raise RuntimeError(f"the browser tests are required here, but {reason}")
    pytest.skip(reason, allow_module_level=True)


try:
    from playwright import sync_api as playwright
except ImportError:
    _absent("the playwright package is absent (pip install playwright)")
try:
    import gradio  # noqa: F401
except ImportError:
    _absent("the app extra is absent (pip install 'fourierflow[app]')")
if not Path(CHROMIUM).exists():
    _absent(f"no Chromium at {CHROMIUM} (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The explorer, started as a user would (`fourierflow explore`), in a subprocess."""
    workdir = tmp_path_factory.mktemp("explorer")
    port = _free_port()
    log = open(workdir / "server.log", "w+")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "fourierflow", "explore", "--host", "127.0.0.1", "--port",
         str(port), "--workdir", str(workdir), "--no-warmup"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        log.seek(0)
        if "running on" in log.read():
            break
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"the explorer exited ({proc.returncode}):\n{log.read()[-3000:]}")
        time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("the explorer did not start within 180 s")
    yield dict(url=url, workdir=workdir, log=workdir / "server.log")
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


def _meta(page, view: str):
    return page.evaluate(
        "v => { const g = document.querySelector(`#${v}-plot .js-plotly-plot`);"
        " return g && g.layout ? g.layout.meta : null; }",
        view,
    )


def _wait_meta(page, view: str, condition: str, timeout_s: float = COMPILE_S):
    """Wait until the view's chart carries layout.meta `m` with `condition` (JS) true."""
    page.wait_for_function(
        "([v, c]) => { const g = document.querySelector(`#${v}-plot .js-plotly-plot`);"
        " if (!g || !g.layout || !g.layout.meta) return false; const m = g.layout.meta;"
        " return eval(c); }",
        arg=[view, condition],
        timeout=timeout_s * 1000,
        polling="raf",
    )
    return _meta(page, view)


def _traces(page, view: str):
    return page.evaluate(
        "v => document.querySelector(`#${v}-plot .js-plotly-plot`).data.map("
        "t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || []),"
        " xaxis: t.xaxis, type: t.type}))",
        view,
    )


def _set(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    box.fill(str(value))
    box.press("Enter")


def _status(page, view: str, needle: str, timeout_s: float = 60) -> str:
    locator = page.locator(f"#{view}-status")
    locator.filter(has_text=needle).wait_for(timeout=timeout_s * 1000)
    return locator.inner_text()


def _shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"explorer-{name}.png"), full_page=True)


def _first_crossing(x, y, delta):
    x, s = np.asarray(x, float), np.abs(np.sin(np.asarray(y, float)))
    i = int(np.argmax(s <= delta))
    assert s[i] <= delta, "the trajectory never aligns"
    return x[i - 1] + (x[i] - x[i - 1]) * (s[i - 1] - delta) / (s[i - 1] - s[i])


def test_dynamics_view_matches_the_library(server, page):
    """The default view (p = 23, width 64, neuron 0 with phi0 = 0.5, psi0 = 0.7): its neuron
    aligns where the closed form says, in all three dynamics; a new kappa is a new chart
    (timed); even p and negative kappa are messages in the page, the chart unchanged."""
    page.goto(server["url"])
    meta = _wait_meta(page, "dynamics", "m.view === 'dynamics'")
    p, kappa, delta, D0 = 23, 0.02, 0.01, 2 * 0.5 - 0.7
    assert (meta["p"], meta["width"], meta["kappa"]) == (p, 64, kappa)
    tau_want = p * kappa * float(ff.alignment_time_exact(kappa, kappa, D0, p, delta))
    assert meta["tau_aligned_reduced"] == pytest.approx(tau_want, rel=1e-10)
    traces = [t for t in _traces(page, "dynamics") if t["xaxis"] == "x3"]  # the D panel
    assert [t["name"] for t in traces] == ["exact flow", "main flow", "per-frequency ODE"]
    for t in traces:  # each method's trajectory crosses |sin D| = delta at the closed form's
        assert _first_crossing(t["x"], t["y"], delta) == pytest.approx(tau_want, rel=0.02)
    alpha = [t for t in _traces(page, "dynamics") if t["xaxis"] == "x"]
    assert all(t["y"][0] == pytest.approx(kappa, rel=1e-9) for t in alpha)
    assert "0.42344" in page.locator("#dynamics-summary").inner_text()
    _shot(page, "dynamics")

    # The update latency after the first compile: a new kappa (no new compile).
    latencies = []
    for kappa in (0.03, 0.025, 0.015):
        box = page.locator("#dynamics-kappa input")
        box.fill(str(kappa))
        start = time.perf_counter()
        box.press("Enter")
        meta = _wait_meta(page, "dynamics", f"m.kappa === {kappa}", timeout_s=120)
        latencies.append(time.perf_counter() - start)
        want = p * kappa * float(ff.alignment_time_exact(kappa, kappa, D0, p, delta))
        assert meta["tau_aligned_reduced"] == pytest.approx(want, rel=1e-10)
    print(
        f"\ndynamics view, p = 23, width 64: parameter change to updated chart "
        f"{', '.join(f'{t:.2f}' for t in latencies)} s (median "
        f"{statistics.median(latencies):.2f} s)"
    )
    assert statistics.median(latencies) < 15  # the target, < 1 s, needs an idle machine

    _set(page, "dynamics-p", 24)
    assert "p must be an odd integer >= 3; got p=24" in _status(page, "dynamics", "Error")
    _set(page, "dynamics-p", 23)
    _status(page, "dynamics", "Updated")
    _set(page, "dynamics-kappa", -0.5)
    assert "kappa" in _status(page, "dynamics", "Error")
    assert _meta(page, "dynamics")["kappa"] == 0.015  # the chart is left as it was
    assert "Traceback" not in page.content()


def test_lottery_view_predicts_the_winner(server, page):
    """The race of one neuron's frequencies: the page's predicted winner is
    argmin_k B_k(0) of the same initialization built here, and its actual winner the largest
    beta of the per-frequency ODE; a new seed redraws; a bad kappa is a message."""
    page.goto(server["url"] + "/?tab=lottery")
    meta = _wait_meta(page, "lottery", "m.view === 'lottery'")
    for seed in (meta["seed"], 3):
        if seed != meta["seed"]:
            _set(page, "lottery-seed", seed)
            meta = _wait_meta(page, "lottery", f"m.seed === {seed}", timeout_s=120)
        p, kappa = meta["p"], meta["kappa"]
        s = ff.neuron_spectrum(ff.init_multi_frequency(jr.key(seed), p, 1, kappa))
        B0 = np.asarray(ff.misalignment(s["D"][0]))
        assert meta["predicted"] == int(np.argmin(B0)) + 1
        race = [t for t in _traces(page, "lottery") if t["xaxis"] == "x"]
        end = {int(t["name"].split()[2]): t["y"][-1] for t in race}
        assert meta["winner"] == max(end, key=end.get)
        # The race's end: the winner's beta from the library's own solve.
        ts = np.linspace(0, race[0]["x"][-1] / (p * kappa), 2)
        k = meta["winner"]
        sol = ff.solve_reduced(
            kappa,
            kappa,
            float(s["D"][0, k - 1]),
            p,
            ts,
            stepsize_controller=dfx.PIDController(rtol=1e-10, atol=1e-12),
        )
        assert end[k] == pytest.approx(float(sol.ys.beta[-1]) / kappa, rel=1e-4)
    _shot(page, "lottery")
    _set(page, "lottery-kappa", -1)
    assert "kappa" in _status(page, "lottery", "Error")


def test_sweeps_view_collapse_filter_and_export(server, page, tmp_path):
    """A sweep run in the page collapses onto the closed form; a saved sweep opens, its
    outcomes filter the view; the export's JSON has the numbers; a file that is not a sweep
    is a message."""
    page.goto(server["url"] + "/?tab=sweeps")
    page.locator("#sweeps-run").click()
    meta = _wait_meta(page, "sweeps", "m.view === 'sweeps' && m.n === 2000")
    assert meta["kind"] == "alignment"
    points = [t for t in _traces(page, "sweeps") if t["xaxis"] == "x2" and t["name"] == "event"]
    D0, tau = np.asarray(points[0]["x"]), np.asarray(points[0]["y"])
    assert D0.size > 1000
    want = 23 * ff.alignment_time_exact(1.0, 1.0, D0, 23, 0.01)  # tau: independent of kappa
    np.testing.assert_allclose(tau, want, rtol=1e-6)
    _shot(page, "sweeps")

    page.locator("#sweeps-export").click()
    link = page.locator("#sweeps-files a[href*='sweeps.json']").first
    link.wait_for(timeout=120_000)
    doc = json.loads(page.request.get(link.get_attribute("href")).text())
    assert doc["numbers"]["n"] == 2000 and doc["numbers"]["outcomes"] == {"event": 2000}

    saved = ff.sweep_alignment(
        np.array([0.5, 1.5, np.pi, -2.0]), 0.01, 23, 0.01, method="closed_form", progress=False
    ).save(tmp_path / "saved.npz")
    _set(page, "sweeps-path", saved)
    meta = _wait_meta(page, "sweeps", "m.n === 4", timeout_s=120)
    assert meta["n_shown"] == 4
    page.locator("#sweeps-outcomes label", has_text="never_aligns").click()
    meta = _wait_meta(page, "sweeps", "m.n === 4 && m.n_shown === 3", timeout_s=60)
    assert meta["shown"] == ["event"]

    (tmp_path / "table.npz").write_text("x,y\n1,2\n")
    _set(page, "sweeps-path", tmp_path / "table.npz")
    assert "not a readable fourierflow sweep file" in _status(page, "sweeps", "Error")
    assert "Traceback" not in page.content()


def test_trained_run_view(server, page):
    """A small run trained in the page: its history, stages and snapshots match its
    checkpoint files; the logit explorer's prediction is the argmax of the logits computed
    here from the snapshot's weights; Stop ends a long run and shows it so far."""
    page.goto(server["url"] + "/?tab=run")
    for elem, value in (("run-p", 11), ("run-width", 32), ("run-steps", 300), ("run-lr", 3e-3)):
        page.locator(f"#{elem} input").fill(str(value))
    page.locator("#run-train").click()
    text = _status(page, "run", "Trained", timeout_s=COMPILE_S)
    folder = Path(text.split("checkpoints in ")[1].rstrip(").").strip())
    meta = _wait_meta(page, "run-inspect", "m.view === 'run-snapshot' && m.step === 300")
    newest = sorted(folder.glob("step_*.npz"))[-1]
    with np.load(newest) as data:
        want_acc = data["train_accuracy"]
        theta, xi, steps = data["snap_theta"][-1], data["snap_xi"][-1], data["snap_steps"]
    history = {t["name"]: t for t in _traces(page, "run")}
    np.testing.assert_allclose(history["train"]["y"], want_acc, rtol=1e-12)
    assert steps[-1] == 300
    _set(page, "run-x", 7)
    _set(page, "run-y", 9)
    meta = _wait_meta(page, "run-inspect", "m.x === 7 && m.y === 9", timeout_s=60)
    net = ff.TwoLayerNet(theta, xi, "relu")
    assert meta["predicted"] == int(np.argmax(np.asarray(net.logits(7, 9))))
    _shot(page, "run")

    page.locator("#run-steps input").fill("200000")
    page.locator("#run-train").click()
    _status(page, "run", ": step ", timeout_s=COMPILE_S)  # its first checkpoint
    page.locator("#run-stop").click()
    assert "Stopped at step" in _status(page, "run", "Stopped", timeout_s=COMPILE_S)
    _set(page, "run-folder", "/nonexistent/folder")
    assert "no such folder" in _status(page, "run", "Error")
