"""`SweepResult`: the inputs, outputs and outcome of every element of a sweep, and its file.

A result holds NumPy arrays with a leading element axis, the `Outcome` of each element and the
elements' positions in the whole sweep (`index`), so that shards computed by independent
processes merge back into the whole. On disk it is an `.npz` archive (readable with NumPy or
any zip tool) whose first member is the JSON metadata; outcomes are stored by name.
"""

import io
import json
import os
import zipfile
from collections.abc import Sequence

import equinox as eqx
import numpy as np

from ._io import write_atomic
from ._outcome import (
    Outcome,
    as_numpy,
    concatenate,
    counts,
    from_codes,
    is_ok,
    names,
    outcome_names,
    take,
    to_codes,
)

__all__ = ["SweepResult", "load_sweep", "merge_sweeps"]

_METADATA = "__metadata__.json"
_OUTCOME_NAMES = "outcome_names"


class SweepResult(eqx.Module):
    """The results of a sweep: inputs, outputs and an `Outcome` per element (NumPy arrays).

    **Fields:**

    - `inputs`: dict from input name to an array with leading axis `n`.
    - `outputs`: dict from output name to an array with leading axis `n`.
    - `outcome`: the `fourierflow.Outcome` of each element, `(n,)` (compare with `==`,
      count with `describe`).
    - `index`: `(n,)` the elements' positions in the whole sweep, ascending.
    - `metadata_json`: the JSON metadata (versions, arguments, seed, devices).
    """

    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    outcome: Outcome
    index: np.ndarray
    metadata_json: str = eqx.field(static=True, default="{}")

    def __check_init__(self):
        n = self.index.shape[0]
        if self.index.shape != (n,) or np.shape(self.outcome == Outcome.successful) != (n,):
            raise ValueError("`outcome` and `index` must be 1-D of the same length.")
        for group, arrays in (("inputs", self.inputs), ("outputs", self.outputs)):
            for name, value in arrays.items():
                if np.shape(value)[:1] != (n,):
                    raise ValueError(
                        f"{group}[{name!r}] must have leading axis {n}; got {np.shape(value)}."
                    )

    @property
    def n(self) -> int:
        """The number of elements."""
        return int(self.index.shape[0])

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the elements that ended well (`successful` or `event`)."""
        return np.asarray(is_ok(self.outcome))

    @property
    def metadata(self) -> dict:
        """The metadata as a dict."""
        return json.loads(self.metadata_json)

    def __getitem__(self, name: str) -> np.ndarray:
        """An input or output array by name (outputs first)."""
        if name in self.outputs:
            return self.outputs[name]
        if name in self.inputs:
            return self.inputs[name]
        raise KeyError(f"no input or output named {name!r}; have {self.names}.")

    @property
    def names(self) -> list[str]:
        """All input and output names."""
        return list(self.inputs) + list(self.outputs)

    def describe(self) -> dict[str, int]:
        """Counts of elements per outcome name (e.g. `{"event": 99, "never_aligns": 1}`)."""
        return counts(self.outcome)

    def dims(self, name: str) -> tuple[str, ...]:
        """The dimension names of an input or output: `("element", ...)`, the trailing ones as
        the sweep declared them (metadata `dims`), else `name_0`, `name_1`, ...

        **Arguments:**

        - `name`: an input or output name.

        **Returns:**

        A tuple with one name per axis of `self[name]`.
        """
        declared = self.metadata.get("dims", {}).get(name)
        extra = np.ndim(self[name]) - 1
        if declared is None or len(declared) != extra:
            declared = [f"{name}_{i}" for i in range(extra)]
        return ("element", *declared)

    def to_xarray(self):
        """The result as an `xarray.Dataset` with named dimensions (needs xarray).

        **Arguments:**

        (none)

        **Returns:**

        A Dataset over the dimension `element` (coordinate: the elements' `index`), one
        variable per input and output with its named dimensions (`dims`), and `outcome` (the
        outcome names); the metadata in `attrs`.
        """
        try:
            import xarray as xr
        except ImportError:
            raise ImportError("to_xarray needs xarray: pip install xarray") from None
        variables = {name: (self.dims(name), np.asarray(self[name])) for name in self.names}
        variables["outcome"] = (("element",), outcome_names(self.outcome))
        return xr.Dataset(
            variables, coords={"element": self.index}, attrs={"metadata": self.metadata_json}
        )

    def to_pandas(self):
        """The per-element numbers as a `pandas.DataFrame` (needs pandas).

        **Arguments:**

        (none)

        **Returns:**

        One row per element (indexed by `index`) with a column per input and output that has
        one value per element, and `outcome` (the names). Arrays with more axes (e.g. a
        trajectory per element) are in `to_xarray`, with named dimensions.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas needs pandas: pip install pandas") from None
        columns = {name: np.asarray(self[name]) for name in self.names if np.ndim(self[name]) == 1}
        columns["outcome"] = outcome_names(self.outcome)
        return pd.DataFrame(columns, index=pd.Index(self.index, name="element"))

    def select(self, mask: np.ndarray) -> "SweepResult":
        """The elements where `mask` is true (e.g. `result.select(result.ok)`).

        **Arguments:**

        - `mask`: a boolean array `(n,)`.

        **Returns:**

        A `SweepResult` of those elements.
        """
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.n,):
            raise ValueError(f"`mask` must be a boolean array of shape ({self.n},).")
        return SweepResult(
            {k: v[mask] for k, v in self.inputs.items()},
            {k: v[mask] for k, v in self.outputs.items()},
            take(self.outcome, mask),
            self.index[mask],
            self.metadata_json,
        )

    def save(self, path: str | os.PathLike) -> str:
        """Write to `.npz` atomically (a temporary file in the same folder, then `os.replace`).

        The archive holds `inputs/<name>`, `outputs/<name>`, `outcome` (codes into the stored
        `outcome_names`), `index` and the JSON metadata as its first member
        `__metadata__.json`.

        **Arguments:**

        - `path`: the file name (`.npz` is appended if missing).

        **Returns:**

        The path written.
        """
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        stored = names()
        arrays = {f"inputs/{k}": np.asarray(v) for k, v in self.inputs.items()}
        arrays |= {f"outputs/{k}": np.asarray(v) for k, v in self.outputs.items()}
        arrays |= {
            "outcome": to_codes(self.outcome, stored),
            _OUTCOME_NAMES: np.asarray(stored, dtype=str),
            "index": np.asarray(self.index),
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_METADATA, self.metadata_json)
            for name, value in arrays.items():
                member = io.BytesIO()
                np.lib.format.write_array(member, value, allow_pickle=False)
                zf.writestr(name + ".npy", member.getvalue())
        write_atomic(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SweepResult":
        """Read a `SweepResult` written by `save`.

        **Arguments:**

        - `path`: the `.npz` file.

        **Returns:**

        The `SweepResult`.
        """
        path = os.fspath(path)
        inputs, outputs = {}, {}
        try:
            with np.load(path, allow_pickle=False) as data:
                for key in data.files:
                    if key.startswith("inputs/"):
                        inputs[key[len("inputs/") :]] = data[key]
                    elif key.startswith("outputs/"):
                        outputs[key[len("outputs/") :]] = data[key]
                outcome = from_codes(data["outcome"], data[_OUTCOME_NAMES].tolist())
                index = data["index"]
            with zipfile.ZipFile(path) as zf:
                metadata_json = zf.read(_METADATA).decode()
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as error:
            raise ValueError(f"{path} is not a readable fourierflow sweep file: {error}") from None
        return cls(inputs, outputs, as_numpy(outcome), index, metadata_json)

    @property
    def partial(self) -> bool:
        """Whether this result lacks some shards of its sweep (a merge with `allow_partial`)."""
        return bool(self.metadata.get("partial", False))

    @classmethod
    def merge(
        cls, results: Sequence["SweepResult"], *, allow_partial: bool = False
    ) -> "SweepResult":
        """Merge the shards of one sweep (e.g. from `--shard i/N` runs) into one result, in the
        order of the whole sweep.

        Every shard records its sweep's identity (the function, parameters, seed, inputs'
        digest, `n`, the shard plan, the version): shards of different sweeps, a shard given
        twice, or a missing shard are refused with a message naming what differs or is missing.

        **Arguments:**

        - `results`: the shards.
        - `allow_partial`: merge even if some shards are missing; the result is marked
          `partial` and its metadata lists the missing shards.

        **Returns:**

        One `SweepResult`, sorted by `index`.
        """
        results = list(results)
        if not results:
            raise ValueError("`results` must hold at least one SweepResult.")
        identities = [r.metadata.get("identity") for r in results]
        first = results[0]
        plan = _shard_plan(identities)
        for i, r in enumerate(results[1:], start=1):
            if set(r.inputs) != set(first.inputs) or set(r.outputs) != set(first.outputs):
                raise ValueError(
                    f"cannot merge: result {i} has other inputs/outputs than result 0."
                )
        index = np.concatenate([r.index for r in results])
        order = np.argsort(index, kind="stable")
        if np.any(np.diff(index[order]) == 0):
            raise ValueError("cannot merge: some elements appear in more than one shard.")
        missing = [] if plan is None else sorted(set(range(plan[1])) - set(plan[0]))
        if missing and not allow_partial:
            raise ValueError(
                f"cannot merge: shards {missing} of {plan[1]} are missing (merge them too, or "
                "pass allow_partial=True / --allow-partial for a result marked partial)."
            )

        def cat(group):
            return {
                k: np.concatenate([getattr(r, group)[k] for r in results])[order]
                for k in getattr(first, group)
            }

        metadata = first.metadata
        metadata["merged_shards"] = [r.metadata.get("arguments", {}).get("shard") for r in results]
        if "arguments" in metadata:
            metadata["arguments"]["shard"] = None
        if metadata.get("identity"):
            metadata["identity"]["shard"] = None
        metadata["partial"] = bool(missing)
        metadata["missing_shards"] = missing
        outcome = take(concatenate([r.outcome for r in results]), order)
        return cls(cat("inputs"), cat("outputs"), outcome, index[order], json.dumps(metadata))


def _shard_plan(identities: list) -> tuple[list[int], int] | None:
    """The shard indices present and their count `N`, after checking that every shard is of
    the same sweep (`None` when the results carry no identity: nothing to check)."""
    if all(identity is None for identity in identities):
        return None
    if any(identity is None for identity in identities):
        raise ValueError("cannot merge: some results carry no sweep identity (another version).")
    from ._sweep_store import differences

    base = {k: v for k, v in identities[0].items() if k != "shard"}
    for i, identity in enumerate(identities[1:], start=1):
        diff = differences(base, {k: v for k, v in identity.items() if k != "shard"})
        if diff:
            raise ValueError(
                f"cannot merge: result {i} is of another sweep than result 0; differing: "
                f"{', '.join(diff)}."
            )
    shards = [identity["shard"] for identity in identities]
    if any(s is None for s in shards):
        if len(shards) > 1:
            raise ValueError("cannot merge: a whole sweep (not a shard) among the results.")
        return [0], 1
    counts = {s[1] for s in shards}
    if len(counts) != 1:
        raise ValueError(f"cannot merge: shards of different plans (N = {sorted(counts)}).")
    present = [s[0] for s in shards]
    twice = sorted({i for i in present if present.count(i) > 1})
    if twice:
        raise ValueError(f"cannot merge: shards {twice} are given more than once.")
    return present, counts.pop()


def load_sweep(path: str | os.PathLike) -> SweepResult:
    """Read a `SweepResult` from `.npz`.

    **Arguments:**

    - `path`: a file written by `SweepResult.save`.

    **Returns:**

    The `SweepResult`.
    """
    return SweepResult.load(path)


def merge_sweeps(results: Sequence[SweepResult], *, allow_partial: bool = False) -> SweepResult:
    """Merge the shards of one sweep (e.g. from `--shard i/N` runs) into one result.

    **Arguments:**

    - `results`: the shards of one sweep.
    - `allow_partial`: accept missing shards (the result is marked `partial`).

    **Returns:**

    One `SweepResult` in the order of the whole sweep (see `SweepResult.merge`).
    """
    return SweepResult.merge(results, allow_partial=allow_partial)
