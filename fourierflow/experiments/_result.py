"""The typed result every experiment returns."""

import dataclasses


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExperimentResult:
    """What an experiment measured: subclasses declare its headline numbers as fields;
    `numbers` holds everything it wrote to its JSON, `figures` the files it drew (names
    relative to its output folder)."""

    numbers: dict = dataclasses.field(repr=False)
    figures: tuple[str, ...] = ()
