"""A sweep's output folder: results streamed to disk chunk by chunk, so that nothing is lost.

The folder holds `sweep.json` (the run's identity and state: `running`, `complete`, or
`failed` with why), one `chunks/NNNNNN.npz` per finished chunk with a `.json` beside it written
last (its sha256 and size: a chunk without an intact pair does not count), and at the end the
whole result, `sweep.npz`. A killed sweep resumes where it stopped (`resume=True`) and
produces the same result as an uninterrupted one; a sweep of another identity is refused by
name. One run at a time holds the folder (`lock_folder`).
"""

import contextlib
import hashlib
import io
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ._io import lock_folder, to_jsonable, write_atomic
from ._outcome import Outcome, as_numpy, from_codes, names, to_codes

STATE = "sweep.json"
RESULT = "sweep.npz"


def digest(arrays) -> str:
    """sha256 of arrays' shapes, dtypes and bytes (the identity of a sweep's inputs)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype.str}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """The fields in which two (nested) identities differ, as `name (old -> new)`."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} ({a!r} -> {b!r})")
    return out


class ChunkStore:
    """The chunks of one sweep in `folder` (see the module docs)."""

    def __init__(self, folder: Path, identity: dict):
        self.folder = Path(folder)
        self.chunks = self.folder / "chunks"
        self.identity = to_jsonable(identity)

    def _write_state(self, state: str, **extra) -> None:
        info = dict(state=state, identity=self.identity, time=time.time(), **extra)
        write_atomic(self.folder / STATE, (json.dumps(info, indent=1) + "\n").encode())

    def open(self, resume: bool) -> bool:
        """Start or resume. Returns whether a complete result is already there."""
        path = self.folder / STATE
        if path.exists():
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                raise ValueError(f"{path} is damaged ({error}); remove the folder.") from None
            if not resume:
                raise ValueError(
                    f"{self.folder} already holds a sweep ({old.get('state')}); resume it "
                    "(resume=True, --resume) or choose another folder."
                )
            diff = differences(old.get("identity", {}), self.identity)
            if diff:
                raise ValueError(
                    f"cannot resume the sweep in {self.folder}: it is another sweep; "
                    f"differing: {', '.join(diff)}."
                )
            if old.get("state") == "complete" and (self.folder / RESULT).exists():
                return True
        self.chunks.mkdir(parents=True, exist_ok=True)
        for tmp in self.folder.rglob(".*.tmp"):  # from a write that was killed
            tmp.unlink(missing_ok=True)
        self._write_state("running")
        return False

    def _paths(self, c: int) -> tuple[Path, Path]:
        return self.chunks / f"{c:06d}.npz", self.chunks / f"{c:06d}.json"

    def load(self, c: int):
        """Chunk `c`'s `(outputs, outcome)` if it is complete and intact, else `None`."""
        data_path, info_path = self._paths(c)
        try:
            info = json.loads(info_path.read_text())
            raw = data_path.read_bytes()
        except (OSError, ValueError):
            return None
        if len(raw) != info.get("bytes") or hashlib.sha256(raw).hexdigest() != info.get("sha256"):
            return None
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            outputs = [data[f"output_{i}"] for i in range(info["n_outputs"])]
            outcome = as_numpy(from_codes(data["outcome"], data["outcome_names"].tolist()))
        return outputs, outcome

    def save(self, c: int, outputs: list[np.ndarray], outcome: Outcome) -> None:
        """Write chunk `c` atomically: the data, then the small JSON that vouches for it."""
        stored = names()
        buffer = io.BytesIO()
        arrays = {f"output_{i}": np.asarray(a) for i, a in enumerate(outputs)}
        arrays |= {"outcome": to_codes(outcome, stored), "outcome_names": np.asarray(stored)}
        np.savez(buffer, **arrays)
        raw = buffer.getvalue()
        data_path, info_path = self._paths(c)
        write_atomic(data_path, raw)
        info = dict(sha256=hashlib.sha256(raw).hexdigest(), bytes=len(raw), n_outputs=len(outputs))
        write_atomic(info_path, json.dumps(info).encode())

    def finish(self, result) -> None:
        """Write the whole result and mark the sweep complete; drop the chunks."""
        result.save(self.folder / RESULT)
        self._write_state("complete")
        shutil.rmtree(self.chunks, ignore_errors=True)

    def fail(self, why: str) -> None:
        with contextlib.suppress(OSError):  # e.g. the disk is full: the error itself says so
            self._write_state("failed", why=why)


@contextlib.contextmanager
def streaming(
    folder, identity: dict, resume: bool, writer: bool = True
) -> Iterator[ChunkStore | None]:
    """Hold `folder` for a sweep and record its end: `complete` (by `ChunkStore.finish`) or
    `failed` with the exception; `None` when there is no folder. A process that does not
    write (not process 0 of a multi-process job) only reads the folder, unlocked."""
    if folder is None:
        yield None
        return
    if not writer:
        yield ChunkStore(folder, identity)
        return
    with lock_folder(folder):
        store = ChunkStore(folder, identity)
        try:
            yield store
        except BaseException as error:
            store.fail(f"{type(error).__name__}: {error}")
            raise
