"""The `fourierflow` command line: `demo`, `reproduce` (and more subcommands as they land)."""

import runpy
import sys
from pathlib import Path

EXPERIMENTS_DIR = Path(__file__).resolve().parent.parent / "experiments"


def demo(out: Path = Path("out/demo"), seed: int = 0) -> None:
    """Run the demo: figures, summary.json and report.md under OUT.

    Args:
        out: output folder.
        seed: PRNG seed.
    """
    from .demo import run_demo

    summary = run_demo(out, seed)
    print(f"demo done in {summary['wall_time_s']:.1f} s: see {out}/report.md")


def _experiments() -> dict[str, Path]:
    return {p.stem: p for p in sorted(EXPERIMENTS_DIR.glob("*.py")) if not p.stem.startswith("_")}


def reproduce(name: str = "", list: bool = False, out: Path | None = None) -> None:
    """Regenerate a paper figure or table by name (see `--list`).

    Args:
        name: the experiment's name (a script of experiments/).
        list: list the experiments and their one-line descriptions.
        out: output folder (default: out/<name>).
    """
    exps = _experiments()
    if list or not name:
        for stem, path in exps.items():
            doc = (path.read_text().split('"""')[1].strip().splitlines() or [""])[0]
            print(f"{stem:28s} {doc}")
        return
    if name not in exps:
        raise SystemExit(f"unknown experiment {name!r}; choose one of: {', '.join(exps)}")
    module = runpy.run_path(str(exps[name]))
    module["main"](out=str(out or Path("out") / name))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `fourierflow` console script."""
    import tyro

    tyro.extras.subcommand_cli_from_dict(
        {"demo": demo, "reproduce": reproduce},
        prog="fourierflow",
        description="Training dynamics of two-layer networks learning modular addition.",
        args=sys.argv[1:] if argv is None else argv,
    )
