"""The trained-run view: a checkpoint folder of `fourierflow.train` (or a run trained here).

A checkpoint `step_N` is `step_N.json` (written last: checksums and the run's fingerprint),
`step_N.npz` (the history and, with `snapshot_every`, the snapshots) and `step_N.eqx` (the
weights and the optimizer state). The newest intact checkpoint is read: its history gives the
loss, accuracy and progress-measure curves and the grokking stages; its snapshots (or, without
any, the final weights from the `.eqx`) the neuron inspector, the logits and the map of the
memorization classes. The split of a `run_config` run is rebuilt from its fingerprint (the
configuration and the seed) and checked against the fingerprint's hash of it.

A run trained here is a separate process (`python -m fourierflow.app._worker`) writing
checkpoints into a folder: the page follows it checkpoint by checkpoint, and a cancel ends
the process (its checkpoints stay, and can be opened like any other).
"""

import dataclasses
import hashlib
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from .._train import METRICS
from ._dynamics import as_integer, as_real
from ._figure import Bars, Heatmap, Line, Panel, View

__all__ = ["Run", "read_run", "history_view", "snapshot_view", "start_training"]

_CHECKPOINT = re.compile(r"^step_(\d{9,})\.json$")
STAGE_COLORS = ("#d62728", "#ff7f0e", "#2ca02c")
CLASSES = (
    ("common, right", "#1f77b4"),
    ("common, wrong", "#aec7e8"),
    ("rare, right", "#ff7f0e"),
    ("rare, wrong", "#ffbb78"),
    ("mirror-covered, right", "#2ca02c"),
    ("mirror-covered, wrong", "#98df8a"),
    ("unseen, right", "#9467bd"),
    ("unseen, wrong", "#c5b0d5"),
)


@dataclasses.dataclass
class Run:
    """What the explorer reads from a checkpoint folder."""

    folder: str
    checkpoint: str
    p: int
    width: int
    activation: str
    step: int
    history: dict
    snap_steps: np.ndarray
    snap_theta: np.ndarray  # (S, M, p or d)
    snap_xi: np.ndarray  # (S, M, p)
    snap_embedding: np.ndarray | None
    train: np.ndarray | None  # (p, p) bool: the split, None when it cannot be rebuilt
    config: dict | None
    seed: int | None
    stages: tuple
    notes: list


def _checkpoint_folder(folder: Path) -> Path:
    if (folder / "checkpoints").is_dir():  # the output folder of `fourierflow train`
        return folder / "checkpoints"
    return folder


def read_run(folder) -> Run:
    """The newest intact checkpoint of `folder` (or of `folder/checkpoints`), or a
    `ValueError` that says what is missing."""
    if folder is None or not str(folder).strip():
        raise ValueError("give the path of a checkpoint folder (the `checkpoint_dir` of a run).")
    folder = Path(str(folder).strip()).expanduser()
    if not folder.is_dir():
        raise ValueError(f"no such folder: {folder}")
    ckpt = _checkpoint_folder(folder)
    stems = sorted(
        (int(m.group(1)), path) for path in ckpt.iterdir() if (m := _CHECKPOINT.match(path.name))
    )
    notes, errors = [], []
    for step, json_path in reversed(stems):
        try:
            return _read_checkpoint(ckpt, json_path, step, notes)
        except (OSError, ValueError, KeyError, TypeError) as error:
            errors.append(f"{json_path.name}: {error}")
            notes.append(f"skipped the damaged checkpoint {json_path.name} ({error}).")
    if errors:
        raise ValueError(f"no intact checkpoint in {ckpt}: " + "; ".join(errors))
    raise ValueError(
        f"{ckpt} holds no checkpoint (step_*.json, .npz, .eqx files written by "
        "fourierflow.train with a checkpoint_dir)."
    )


def _read_checkpoint(ckpt: Path, json_path: Path, step: int, notes: list) -> Run:
    info = json.loads(json_path.read_text())
    facts = info["fingerprint"]
    files = info["files"]
    npz_path = ckpt / files["npz"]["name"]
    blob = npz_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != files["npz"]["sha256"]:
        raise ValueError(f"{npz_path.name} does not match its checksum")
    import io

    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    p, width = int(facts["p"]), int(facts["width"])
    activation = str(facts["activation"])
    history = {k: np.asarray(arrays[k], float) for k in METRICS if k in arrays}
    history["step"] = np.asarray(arrays["step"], int)
    if "snap_theta" in arrays:
        snap_steps = np.asarray(arrays["snap_steps"], int)
        theta, xi = np.asarray(arrays["snap_theta"]), np.asarray(arrays["snap_xi"])
        embedding = arrays.get("snap_embedding")
        if snap_steps[-1] != step:
            theta, xi, embedding, snap_steps = _append_final(
                ckpt, files, facts, step, theta, xi, embedding, snap_steps, notes
            )
    else:
        theta, xi, embedding, snap_steps = _append_final(
            ckpt, files, facts, step, None, None, None, None, notes
        )
        notes.append("the run kept no snapshots (snapshot_every): only its final weights.")
    run = facts.get("run") or {}
    config, seed = run.get("config"), run.get("seed")
    train = _split(facts, p, config, seed, notes)
    stages = _stages(history)
    return Run(
        folder=str(ckpt),
        checkpoint=json_path.name,
        p=p,
        width=width,
        activation=activation,
        step=step,
        history=history,
        snap_steps=snap_steps,
        snap_theta=theta,
        snap_xi=xi,
        snap_embedding=embedding,
        train=train,
        config=config,
        seed=seed,
        stages=stages,
        notes=notes,
    )


def _append_final(ckpt, files, facts, step, theta, xi, embedding, snap_steps, notes):
    """Add the final weights, read from the `.eqx` file (the iterate, for a schedule-free
    optimizer: its evaluation point needs the optimizer)."""
    import equinox as eqx
    import jax.numpy as jnp

    import fourierflow as ff

    eqx_path = ckpt / files["eqx"]["name"]
    blob = eqx_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != files["eqx"]["sha256"]:
        raise ValueError(f"{eqx_path.name} does not match its checksum")
    if facts.get("embedding"):
        if embedding is None:
            raise ValueError("a network with an embedding and no snapshots cannot be shown")
        notes.append("the final weights are not a snapshot: showing the last snapshot.")
        return theta, xi, embedding, snap_steps
    p, width = int(facts["p"]), int(facts["width"])
    dtype = jnp.dtype(facts.get("dtype", "float64"))
    like = ff.TwoLayerNet(jnp.zeros((width, p), dtype), jnp.zeros((width, p), dtype))
    import io

    # The file holds (params, opt_state) leaf by leaf: the network's leaves come first.
    net = eqx.tree_deserialise_leaves(io.BytesIO(blob), like)
    final_theta, final_xi = np.asarray(net.theta)[None], np.asarray(net.xi)[None]
    if theta is None:
        return final_theta, final_xi, None, np.asarray([step])
    return (
        np.concatenate([theta, final_theta]),
        np.concatenate([xi, final_xi]),
        embedding,
        np.concatenate([snap_steps, [step]]),
    )


def _split(facts, p, config, seed, notes):
    """The run's train mask: rebuilt from a `run_config` fingerprint, or full data."""
    import fourierflow as ff

    want = facts.get("train_hash")
    if config is not None and seed is not None:
        try:
            fields = {f.name for f in dataclasses.fields(ff.TrainConfig)}
            kw = {k: v for k, v in config.items() if k in fields}
            kw["steps"] = kw.get("log_every", 100)
            _, split = ff.config_setup(ff.TrainConfig(**kw), int(seed))
            train = np.asarray(split.train)
            if want is None or hashlib.sha256(np.packbits(train).tobytes()).hexdigest() == want:
                return train
        except (TypeError, ValueError) as error:
            notes.append(f"could not rebuild the split from the configuration: {error}")
    if int(facts.get("n_train", -1)) == p * p:
        return np.ones((p, p), bool)
    notes.append(
        "the split is unknown (a run not started by run_config): the map shows right and "
        "wrong only."
    )
    return None


def _stages(history) -> tuple:
    import fourierflow as ff

    if "train_accuracy" not in history or "test_accuracy" not in history:
        return (None, None)
    h = ff.History(
        step=np.asarray(history["step"]),
        **{k: np.asarray(history.get(k, np.full(history["step"].shape, np.nan))) for k in METRICS},
    )
    return ff.grokking_stages(h)


def network(run: Run, index: int):
    """The `TwoLayerNet` of snapshot `index`."""
    import jax.numpy as jnp

    import fourierflow as ff

    activation = run.activation if run.activation in ff.ACTIVATIONS else "quad"
    emb = None if run.snap_embedding is None else jnp.asarray(run.snap_embedding[index])
    return ff.TwoLayerNet(
        jnp.asarray(run.snap_theta[index]), jnp.asarray(run.snap_xi[index]), activation, emb
    )


def history_view(run: Run, index: int | None = None) -> View:
    """Loss, accuracies and progress measures against the step, with the grokking stages."""
    h = run.history
    s = h["step"]
    t_mem, t_gen = run.stages
    marks = []
    if t_mem is not None:
        marks.append((float(t_mem), "memorized", STAGE_COLORS[0], "dash"))
    if t_gen is not None:
        marks.append((float(t_gen), "generalized", STAGE_COLORS[2], "dash"))
    if index is not None:
        marks.append((float(run.snap_steps[index]), "snapshot", "#000000", "dot"))
    unlabelled = [(x, "", c, d) for x, _, c, d in marks]

    def line(key, name, color, dash="solid"):
        return Line(
            s, h.get(key, np.full(s.shape, np.nan)), name, color=color, dash=dash, group=key
        )

    panels = [
        Panel(
            "loss",
            "step",
            "cross-entropy",
            [
                line("train_loss", "train loss", "#1f77b4"),
                line("test_loss", "test loss", "#ff7f0e", "dash"),
            ],
            ylog=True,
            vlines=marks,
        ),
        Panel(
            "accuracy",
            "step",
            "accuracy",
            [
                line("train_accuracy", "train", "#1f77b4"),
                line("test_accuracy", "test", "#ff7f0e", "dash"),
                line("common_accuracy", "common (train)", "#17becf", "dot"),
                line("rare_accuracy", "rare (train)", "#bcbd22", "dot"),
                line("mirror_covered_accuracy", "mirror-covered (test)", "#2ca02c", "dot"),
                line("unseen_accuracy", "unseen (test)", "#9467bd", "dot"),
            ],
            vlines=unlabelled,
            yrange=(-0.02, 1.02),
        ),
        Panel(
            "frequency sparsity (IPR) and phase alignment",
            "step",
            "value",
            [
                line("frequency_sparsity", "IPR (frequency sparsity)", "#8c564b"),
                line("phase_alignment", "mean |sin D| (phase alignment)", "#e377c2", "dash"),
            ],
            vlines=unlabelled,
        ),
        Panel(
            "weight norm",
            "step",
            "(1/M) sum (|theta_m| + |xi_m|)",
            [
                line("weight_norm", "weight norm", "#444444"),
            ],
            vlines=unlabelled,
        ),
    ]
    last = {k: float(v[-1]) for k, v in h.items() if k != "step"}
    numbers = dict(
        folder=run.folder,
        checkpoint=run.checkpoint,
        step=run.step,
        p=run.p,
        width=run.width,
        activation=run.activation,
        config=run.config,
        seed=run.seed,
        stages=dict(memorized=t_mem, generalized=t_gen),
        final=last,
        history=h,
    )
    return View(
        title=f"Training history: p = {run.p}, width {run.width}, {run.activation}, "
        f"{run.step} steps",
        panels=panels,
        cols=2,
        numbers=numbers,
        meta=dict(
            view="run-history",
            step=run.step,
            p=run.p,
            width=run.width,
            memorized=t_mem,
            generalized=t_gen,
        ),
    )


def check_inspector(run: Run, index, neuron, x, y) -> tuple[int, int, int, int]:
    n = len(run.snap_steps)
    index = as_integer(index, "snapshot")
    if not 0 <= index < n:
        raise ValueError(f"`snapshot` must lie in 0..{n - 1}; got {index}.")
    neuron = as_integer(neuron, "neuron")
    if not 0 <= neuron < run.width:
        raise ValueError(f"`neuron` must lie in 0..{run.width - 1}; got {neuron}.")
    x, y = as_integer(x, "x"), as_integer(y, "y")
    for name, v in (("x", x), ("y", y)):
        if not 0 <= v < run.p:
            raise ValueError(f"`{name}` must lie in 0..{run.p - 1} (Z_p); got {v}.")
    return index, neuron, x, y


def snapshot_view(run: Run, index: int, neuron: int, x: int, y: int) -> View:
    """The network at snapshot `index`: spectra, the neuron inspector, the logits of `(x, y)`
    and the map of the memorization classes."""
    import fourierflow as ff

    index, neuron, x, y = check_inspector(run, index, neuron, x, y)
    net = network(run, index)
    p, K = run.p, ff.num_frequencies(run.p)
    ks = np.arange(1, K + 1)
    s = {k: np.asarray(v) for k, v in ff.neuron_spectrum(net).items()}
    dom = np.argmax(s["beta"], axis=-1)  # 0-based dominant frequency per neuron
    order = np.lexsort((-s["beta"].max(-1), dom))
    heat = s["beta"][order].T  # (K, M): neurons sorted by dominant frequency
    step = int(run.snap_steps[index])
    pick = lambda a: a[np.arange(run.width), dom]  # noqa: E731
    two_phi = np.pi - np.mod(np.pi - 2 * pick(s["phi"]), 2 * np.pi)
    psi = pick(s["psi"])
    # Logits of every pair: the predictions for the map, one row for the explorer.
    xs, ys = ff.all_pairs(p)
    logits = np.asarray(net.logits(xs, ys)).reshape(p, p, p)
    pred = np.argmax(logits, axis=-1)
    right = pred == (np.arange(p)[:, None] + np.arange(p)[None, :]) % p
    f = logits[x, y]
    z = (x + y) % p
    prob = np.exp(f - f.max())
    prob /= prob.sum()
    if run.train is not None:
        train = run.train
        cls = np.select([train & train.T, train & ~train.T, ~train & train.T], [0, 1, 2], default=3)
        code = 2 * cls + (~right)
        categories = list(CLASSES)
        names = [c for c, _ in CLASSES]
    else:
        code = (~right).astype(int)
        categories = [("right", "#1f77b4"), ("wrong", "#ff7f0e")]
        names = [c for c, _ in categories]
    hover = [
        [f"(x, y) = ({i}, {j}): {names[code[i, j]]}, predicts {pred[i, j]}" for j in range(p)]
        for i in range(p)
    ]
    phase_hover = [
        f"neuron {m}: k = {dom[m] + 1}, 2phi = {two_phi[m]:.3f}, psi = {psi[m]:.3f}"
        for m in range(run.width)
    ]
    panels = [
        Panel(
            f"output spectra beta_k of all neurons (step {step})",
            "neuron (sorted by k)",
            "frequency k",
            [
                Heatmap(
                    np.arange(run.width),
                    ks,
                    heat,
                    "beta_k",
                    colorbar="beta_k",
                    hover=[
                        [
                            f"neuron {order[j]}, k = {k}: beta = {heat[k - 1, j]:.3g}"
                            for j in range(run.width)
                        ]
                        for k in ks
                    ],
                )
            ],
        ),
        Panel(
            f"neuron {neuron}: Fourier magnitudes (polar)",
            "frequency k",
            "magnitude",
            [
                Bars(
                    ks - 0.2,
                    s["alpha"][neuron],
                    "alpha_k (input, theta)",
                    color="#1f77b4",
                    width=0.4,
                ),
                Bars(
                    ks + 0.2, s["beta"][neuron], "beta_k (output, xi)", color="#d62728", width=0.4
                ),
            ],
        ),
        Panel(
            "phases at each neuron's frequency: psi = 2 phi when aligned",
            "2 phi (wrapped)",
            "psi",
            [
                Line(
                    two_phi,
                    psi,
                    "neurons",
                    color="#7f7f7f",
                    markers="only",
                    legend=False,
                    hover=phase_hover,
                ),
                Line(
                    [two_phi[neuron]],
                    [psi[neuron]],
                    f"neuron {neuron}",
                    color="#d62728",
                    markers="only",
                    legend=False,
                ),
                Line(
                    [-np.pi, np.pi],
                    [-np.pi, np.pi],
                    "psi = 2 phi",
                    color="#000000",
                    dash="dash",
                    width=1,
                    legend=False,
                ),
            ],
        ),
        Panel(
            f"logits f({x}, {y}) (answer {z})",
            "class",
            "logit",
            [
                Bars(
                    np.arange(p),
                    f,
                    "logits",
                    color=["#2ca02c" if c == z else "#9e9e9e" for c in range(p)],
                    legend=False,
                    hover=[f"class {c}: logit {f[c]:.4g}, softmax {prob[c]:.3g}" for c in range(p)],
                ),
            ],
        ),
        Panel(
            "memorization classes: right or wrong on each pair",
            "y",
            "x",
            [
                Heatmap(
                    np.arange(p), np.arange(p), code, "classes", categories=categories, hover=hover
                ),
            ],
        ),
    ]
    per_class = {}
    if run.train is not None:
        for c, label in enumerate(("common", "rare", "mirror_covered", "unseen")):
            sel = cls == c
            per_class[label] = float(right[sel].mean()) if sel.any() else None
    D = np.asarray(ff.phase_difference(s["phi"][neuron], s["psi"][neuron]))
    numbers = dict(
        step=step,
        snapshot=index,
        neuron=neuron,
        neuron_spectrum=dict(
            k=ks,
            alpha=s["alpha"][neuron],
            beta=s["beta"][neuron],
            phi=s["phi"][neuron],
            psi=s["psi"][neuron],
            D=D,
        ),
        dominant_frequency=int(dom[neuron] + 1),
        pair=dict(x=x, y=y, answer=z, logits=f, softmax=prob, predicted=int(np.argmax(f))),
        accuracy=float(right.mean()),
        class_accuracy=per_class,
    )
    summary = (
        f"Step **{step}** (snapshot {index + 1} of {len(run.snap_steps)}). Neuron {neuron}: "
        f"dominant frequency k = {dom[neuron] + 1}, |sin D| = "
        f"{abs(math.sin(D[dom[neuron]])):.3g}. f({x}, {y}) predicts **{int(np.argmax(f))}** "
        f"(answer {z}, softmax {prob[z]:.3g}). Accuracy on all pairs {right.mean():.3f}"
        + (
            "; " + ", ".join(f"{k} {v:.3f}" for k, v in per_class.items() if v is not None)
            if per_class
            else ""
        )
        + "."
    )
    return View(
        title=f"Snapshot at step {step}: neuron {neuron}, pair ({x}, {y})",
        panels=panels,
        cols=2,
        numbers=numbers,
        meta=dict(
            view="run-snapshot", step=step, neuron=neuron, x=x, y=y, predicted=int(np.argmax(f))
        ),
        summary=summary,
    )


TRAIN_DEFAULTS = dict(
    config="grokking",
    p=23,
    width=256,
    steps=6000,
    lr=1e-3,
    weight_decay=1.0,
    train_fraction=0.5,
    seed=0,
)


def check_training(config, p, width, steps, lr, weight_decay, train_fraction, seed) -> dict:
    """The settings of a run trained in the app, checked (through `TrainConfig`)."""
    import fourierflow as ff

    if config not in ff.CONFIGS:
        raise ValueError(f"`config` must be one of {', '.join(ff.CONFIGS)}; got {config!r}.")
    values = dict(
        p=as_integer(p, "p"),
        width=as_integer(width, "width"),
        steps=as_integer(steps, "steps"),
        lr=as_real(lr, "lr"),
        weight_decay=as_real(weight_decay, "weight_decay"),
        train_fraction=as_real(train_fraction, "train_fraction"),
    )
    if values["steps"] > 1_000_000:
        raise ValueError(f"`steps` must be <= 1000000 in the explorer; got {values['steps']}.")
    cfg = ff.get_config(config)
    # About 30 checkpoints over the run: the page follows it checkpoint by checkpoint.
    log_every = max(1, min(cfg.log_every, values["steps"]))
    while values["steps"] % log_every:
        log_every -= 1
    values["log_every"] = log_every
    ff.get_config(config, **values)  # every field checked, with the field's name
    seed = as_integer(seed, "seed")
    if seed < 0:
        raise ValueError(f"`seed` must be an integer >= 0; got seed={seed}.")
    chunks = values["steps"] // log_every
    every = log_every * max(1, chunks // 30)
    return dict(config=config, seed=seed, overrides=values, checkpoint_every=every)


def start_training(settings: dict, folder) -> subprocess.Popen:
    """Start a training process writing checkpoints (with snapshots) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "explorer-run.json").write_text(json.dumps(settings, indent=1))
    with open(folder / "worker.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "fourierflow.app._worker", str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )


def worker_error(folder) -> str:
    """The last lines of a failed worker's log."""
    path = Path(folder) / "worker.log"
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " / ".join(lines[-3:]) if lines else "(empty log)"
