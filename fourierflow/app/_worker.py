"""The training process of the explorer: `python -m fourierflow.app._worker FOLDER`.

Reads `FOLDER/explorer-run.json` (a configuration name, its overrides, a seed and the
checkpoint interval) and trains it with `fourierflow.run_config`, writing checkpoints with
snapshots into FOLDER, which the page reads as they appear. A separate process, so that a
cancel can end it at once, whatever it is doing.
"""

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    settings = json.loads((folder / "explorer-run.json").read_text())
    import jax

    jax.config.update("jax_enable_x64", True)  # as the command line trains
    import fourierflow as ff

    every = int(settings["checkpoint_every"])
    ff.run_config(
        settings["config"],
        int(settings["seed"]),
        **settings["overrides"],
        checkpoint_dir=str(folder),
        checkpoint_every=every,
        snapshot_every=every,
        progress=False,
    )
    (folder / "explorer-done").write_text("done\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
