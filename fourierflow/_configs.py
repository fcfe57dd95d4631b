"""Named training configurations matching the reference code (paper Section 3).

All use `p = 23`, width 512 and the `"mean"` loss. AdamW is `torch.optim.AdamW` (the
reference's optimizer), i.e. `optax.adamw`: `eps = 1e-8`, decoupled weight decay multiplied by
the learning rate, and `betas = (0.9, 0.98)`. The paper states no betas; 0.98 (the grokking
literature's choice, Nanda et al. 2023) rather than PyTorch's default 0.999 is what reproduces
the reference's numbers: the `standard` network after 10000 steps, activation-swapped (Table 1),
gives CE 3.3e-5, 0.056, 1.3e-3, 6.5e-4, 4.2, 3.7 for x^4, x^8, log(1+e^(2x)), e^x, x, x^3
(paper: 3.1e-5, 0.051, 1.3e-3, 6.5e-4, 4.25, 3.89; mean |log10 ratio| 0.02 over the first
four), while with b2 = 0.999 no training length (5k-40k) comes closer than a factor 2-3.5
(mean |log10 ratio| >= 0.39, at 30k steps; x and x^3 at 3.6, 3.5); and `grokking` gives
stage boundaries 1.8k / 8.5k steps (reference ~1.7k / ~9.4k; b2 = 0.999: 1.1k / 6.9k) with
the norm turning down near 9k steps as in the paper's Fig. 5 (b2 = 0.999: only after 42k).
`b2=0.999` restores PyTorch's default.
"""

import dataclasses
import functools
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

from ._checks import check_choice, check_modulus, check_positive, check_positive_int
from ._data import Split, full_split, random_split
from ._ensemble_train import EnsembleResult, stack_nets, train_ensemble
from ._init import init_gaussian, init_single_frequency
from ._network import TwoLayerNet
from ._train import TrainResult, train
from ._types import Array, Float, Reduction

# The fields that may differ between the members of one ensemble: data of one compiled
# program (initial weights, split, optimizer state). Every other field fixes its shapes or code.
ENSEMBLE_AXES = ("lr", "weight_decay", "train_fraction", "init_scale", "kappa")
# The keywords of `train` / `train_ensemble` that `run_config` / `run_ensemble` pass through.
_TRAIN_KEYS = (
    "checkpoint_dir",
    "checkpoint_every",
    "resume",
    "snapshot_every",
    "progress",
    "throw",
)


@functools.cache
def _adamw_factory(b1: float, b2: float, eps: float) -> Callable[..., optax.GradientTransformation]:
    # One object per setting: an ensemble run again with it reuses its compiled program.
    return functools.partial(optax.adamw, b1=b1, b2=b2, eps=eps)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training setup: network, initialization, optimizer, data and length.

    **Fields:**

    - `activation`: a name of `fourierflow.ACTIVATIONS`.
    - `init`: `"gaussian"` (std `init_scale / sqrt(p)`, theory eq. (14)) or `"single_frequency"`
      (Assumption 5.1 with magnitude `kappa`).
    - `init_scale`, `kappa`: the initialization's scale.
    - `optimizer`: `"adamw"` (PyTorch's AdamW, betas (0.9, 0.98): see the module docstring)
      or `"sgd"`.
    - `lr`, `weight_decay`, `b1`, `b2`, `eps`: optimizer hyperparameters (`weight_decay`,
      `b1`, `b2`, `eps` are AdamW's only).
    - `train_fraction`: 1 for full data, else a seeded `random_split`.
    - `steps`, `log_every`, `reduction`, `p`, `width`.
    """

    activation: str = "relu"
    init: Literal["gaussian", "single_frequency"] = "gaussian"
    init_scale: float = 0.1
    kappa: float = 0.02
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = 5e-5
    weight_decay: float = 0.0
    b1: float = 0.9
    b2: float = 0.98
    eps: float = 1e-8
    train_fraction: float = 1.0
    steps: int = 5000
    log_every: int = 100
    reduction: Reduction = "mean"
    p: int = 23
    width: int = 512

    def __post_init__(self):
        check_modulus(self.p)
        check_positive_int(self.width, "width")
        check_positive_int(self.steps, "steps")
        check_positive_int(self.log_every, "log_every")
        check_choice(self.init, "init", ("gaussian", "single_frequency"))
        check_choice(self.optimizer, "optimizer", ("adamw", "sgd"))
        check_choice(self.reduction, "reduction", ("sum", "mean"))
        for name in ("init_scale", "kappa", "lr", "eps"):
            check_positive(getattr(self, name), name)
        if not self.weight_decay >= 0:
            raise ValueError(f"`weight_decay` must be >= 0; got {self.weight_decay!r}.")
        for name in ("b1", "b2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"`{name}` must lie in [0, 1); got {getattr(self, name)!r}.")
        if not 0 < self.train_fraction <= 1:
            raise ValueError(f"`train_fraction` must lie in (0, 1]; got {self.train_fraction!r}.")
        if self.steps % self.log_every:
            raise ValueError(
                f"`steps` must be a multiple of `log_every`; got steps={self.steps}, "
                f"log_every={self.log_every}."
            )

    def make_net(self, key) -> TwoLayerNet:
        """The initial network from `key`."""
        if self.init == "gaussian":
            return init_gaussian(key, self.p, self.width, self.init_scale, self.activation)
        return init_single_frequency(
            key, self.p, self.width, self.kappa, activation=self.activation
        )

    def make_optimizer(self) -> optax.GradientTransformation:
        """The Optax optimizer."""
        if self.optimizer == "sgd":
            return optax.sgd(self.lr)
        return optax.adamw(
            self.lr, b1=self.b1, b2=self.b2, eps=self.eps, weight_decay=self.weight_decay
        )

    def optimizer_factory(self) -> tuple[Callable[..., optax.GradientTransformation], dict]:
        """The optimizer as a factory and its per-member hyperparameters: `factory(**values)`
        is `make_optimizer()`; `train_ensemble` injects the values (`learning_rate`, and for
        AdamW `weight_decay`) into each member's optimizer state."""
        if self.optimizer == "sgd":
            return optax.sgd, dict(learning_rate=self.lr)
        factory = _adamw_factory(self.b1, self.b2, self.eps)
        return factory, dict(learning_rate=self.lr, weight_decay=self.weight_decay)

    def make_split(self, key) -> Split:
        """Full data if `train_fraction == 1`, else a `random_split` from `key`."""
        if self.train_fraction == 1:
            return full_split(self.p)
        return random_split(key, self.p, self.train_fraction)

    def replace(self, **overrides) -> "TrainConfig":
        """A copy with some fields changed (validated)."""
        unknown = set(overrides) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(
                f"unknown TrainConfig fields {sorted(unknown)}; allowed: "
                f"{[f.name for f in dataclasses.fields(self)]}."
            )
        return dataclasses.replace(self, **overrides)


CONFIGS: dict[str, TrainConfig] = {
    # Paper Section 3 (Obs. 1-4, Figs. 2-3, Table 1): full data, no weight decay.
    "standard": TrainConfig(),
    # Paper Section 3.3 (Fig. 5, Figs. 10-12).
    "grokking": TrainConfig(lr=1e-4, weight_decay=2.0, train_fraction=0.75, steps=50_000),
    "quad_random": TrainConfig(activation="quad"),
    # Paper Fig. 14 and the discrete-vs-continuous comparison (SGD follows the flow: eq. (6)).
    "quad_single_freq": TrainConfig(
        activation="quad",
        init="single_frequency",
        kappa=0.02,
        optimizer="sgd",
        lr=0.1,
        steps=10_000,
    ),
    "relu_single_freq": TrainConfig(
        activation="relu",
        init="single_frequency",
        kappa=0.002,
        optimizer="sgd",
        lr=0.01,
        steps=10_000,
    ),
}


def get_config(name: str, **overrides) -> TrainConfig:
    """The named configuration of `CONFIGS`, with fields overridden.

    **Arguments:**

    - `name`: one of `standard, grokking, quad_random, quad_single_freq, relu_single_freq`.
    - `overrides`: `TrainConfig` fields to change.

    **Returns:**

    A `TrainConfig`.
    """
    check_choice(name, "name", tuple(CONFIGS))
    return CONFIGS[name].replace(**overrides)


def run_config(name: str | TrainConfig, seed: int = 0, **kwargs) -> TrainResult:
    """Train a named configuration (or a `TrainConfig`) from `seed`.

    The initialization uses `jr.fold_in(jr.key(seed), 0)`, the split `jr.fold_in(..., 1)`.

    **Arguments:**

    - `name`: a name of `CONFIGS` or a `TrainConfig`.
    - `seed`: an int.
    - `kwargs`: `TrainConfig` fields to override; the keywords of `train` (`checkpoint_dir`,
      `checkpoint_every`, `resume`, `snapshot_every`, `progress`, `throw`) pass through.

    Checkpoints record the configuration (all fields but `steps`, so a finished run can be
    resumed to a longer one) and `seed` as their fingerprint: resuming with another
    configuration or seed is refused.

    **Returns:**

    The `TrainResult`; its split is `config.make_split(jr.fold_in(jr.key(seed), 1))`.
    """
    train_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _TRAIN_KEYS}
    config = get_config(name, **kwargs) if isinstance(name, str) else name.replace(**kwargs)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"`seed` must be an int; got {type(seed).__name__} {seed!r}.")
    net0, split = config_setup(config, seed)
    return train(
        net0,
        config.make_optimizer(),
        steps=config.steps,
        split=split,
        reduction=config.reduction,
        log_every=config.log_every,
        fingerprint=dict(config=_facts(config), seed=int(seed)),
        **train_kwargs,
    )


def _facts(config: TrainConfig) -> dict:
    facts = dataclasses.asdict(config)
    del facts["steps"]  # a longer run continues a shorter one's checkpoints
    return facts


def config_setup(config: TrainConfig, seed: int = 0) -> tuple[TwoLayerNet, Split]:
    """The initial network and the split that `run_config(config, seed)` uses.

    **Arguments:**

    - `config`: a `TrainConfig`; `seed`: an int.

    **Returns:**

    `(net0, split)`.
    """
    key = jr.key(seed)
    return config.make_net(jr.fold_in(key, 0)), config.make_split(jr.fold_in(key, 1))


def ensemble_members(
    name: str | TrainConfig, seeds: Iterable[int] = (0,), **axes
) -> tuple[tuple[TrainConfig, int], ...]:
    """The members of an ensemble: the product grid of seeds and hyperparameter values.

    **Arguments:**

    - `name`: a name of `CONFIGS` or a `TrainConfig`.
    - `seeds`: the seeds (ints), e.g. `range(32)`.
    - `axes`: `TrainConfig` fields. Those of `ENSEMBLE_AXES` (`lr`, `weight_decay`,
      `train_fraction`, `init_scale`, `kappa`) take one value or a sequence of values (a grid
      axis); any other field one value (an override for every member: it fixes the compiled
      program's shapes or code).

    **Returns:**

    One `(config, seed)` per member, in the order of `itertools.product` over the axes in the
    order of `ENSEMBLE_AXES`, then the seeds (the seed varies fastest). Member `i` trains as
    `run_config(config, seed)` would.
    """
    base = get_config(name) if isinstance(name, str) else name
    if not isinstance(base, TrainConfig):
        raise TypeError(f"`name` must be a configuration name or a TrainConfig; got {name!r}.")
    seeds = _check_seeds(seeds)
    grid, fixed = {}, {}
    base.replace(**{k: getattr(base, k) for k in axes if not hasattr(base, k)})  # unknown names
    for field, value in axes.items():
        if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
            fixed[field] = value
        elif field in ENSEMBLE_AXES:
            values = list(np.asarray(value).tolist()) if isinstance(value, np.ndarray) else value
            if not len(values):
                raise ValueError(f"`{field}` must hold at least one value; got {value!r}.")
            grid[field] = list(values)
        else:
            raise ValueError(
                f"`{field}` cannot vary within an ensemble (it fixes the shapes or the code of "
                f"the one compiled program); only {', '.join(ENSEMBLE_AXES)} can; got "
                f"{field}={value!r}."
            )
    base = base.replace(**fixed)
    names = [f for f in ENSEMBLE_AXES if f in grid]
    members = []
    for values in itertools.product(*(grid[f] for f in names), seeds):
        config = base.replace(**dict(zip(names, values[:-1], strict=True)))
        members.append((config, values[-1]))
    return tuple(members)


def ensemble_setup(
    members: Sequence[tuple[TrainConfig, int]],
) -> tuple[TwoLayerNet, Split, Callable, dict[str, Float[Array, " members"]]]:
    """The stacked initial networks, splits and optimizer hyperparameters of an ensemble.

    Member `i` is `config_setup(config_i, seed_i)`: the same initial network and split as
    `run_config(config_i, seed_i)`.

    **Arguments:**

    - `members`: `(config, seed)` pairs (e.g. from `ensemble_members`); the configurations may
      differ only in the fields of `ENSEMBLE_AXES`.

    **Returns:**

    `(nets0, splits, optimizer, hyperparameters)` for `train_ensemble`: the networks and
    splits stacked on a leading member axis, the optimizer factory
    (`TrainConfig.optimizer_factory`) and each of its hyperparameters as a `(members,)` array.
    """
    members = list(members)
    if not members:
        raise ValueError("`members` must hold at least one (config, seed) pair.")
    for item in members:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], TrainConfig)):
            raise TypeError(f"`members` must hold (TrainConfig, seed) pairs; got {item!r}.")
        _check_seeds([item[1]])
    first = members[0][0]
    shared = [f.name for f in dataclasses.fields(first) if f.name not in ENSEMBLE_AXES]
    for i, (config, _) in enumerate(members):
        differ = [f for f in shared if getattr(config, f) != getattr(first, f)]
        if differ:
            raise ValueError(
                f"`members`: member {i} differs from member 0 in {differ}; the members of one "
                f"ensemble may differ only in {', '.join(ENSEMBLE_AXES)} (and the seed)."
            )
    setups = [config_setup(config, seed) for config, seed in members]
    nets0 = stack_nets([net for net, _ in setups])
    splits = Split(jnp.stack([split.train for _, split in setups]))
    factory, _ = first.optimizer_factory()
    values = [config.optimizer_factory()[1] for config, _ in members]
    hyperparameters = {k: jnp.asarray([v[k] for v in values], nets0.xi.dtype) for k in values[0]}
    return nets0, splits, factory, hyperparameters


def run_ensemble(name: str | TrainConfig, seeds: Iterable[int] = (0,), **kwargs) -> EnsembleResult:
    """Train the ensemble `ensemble_members(name, seeds, **axes)` as one compiled program.

    Member `i` equals `run_config(config_i, seed_i)` (the same initial network, split and
    optimizer; to rounding, see `train_ensemble`).

    **Arguments:**

    - `name`: a name of `CONFIGS` or a `TrainConfig`.
    - `seeds`: the seeds, e.g. `range(32)`.
    - `kwargs`: the grid and overrides of `ensemble_members` (e.g. `lr=[1e-4, 3e-4]`,
      `steps=1000`); the keywords of `train_ensemble` (`checkpoint_dir`, `checkpoint_every`,
      `resume`, `snapshot_every`, `progress`, `throw`) pass through.

    Checkpoints record every member's configuration (all fields but `steps`) and seed as
    their fingerprint: resuming another ensemble is refused.

    **Returns:**

    The `EnsembleResult`, members in the order of `ensemble_members`.
    """
    train_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _TRAIN_KEYS}
    members = ensemble_members(name, seeds, **kwargs)
    nets0, splits, factory, hyperparameters = ensemble_setup(members)
    config = members[0][0]
    return train_ensemble(
        nets0,
        factory,
        hyperparameters=hyperparameters,
        splits=splits,
        steps=config.steps,
        reduction=config.reduction,
        log_every=config.log_every,
        fingerprint=dict(members=[dict(config=_facts(c), seed=int(s)) for c, s in members]),
        **train_kwargs,
    )


def _check_seeds(seeds) -> list[int]:
    if isinstance(seeds, int | np.integer) or not isinstance(seeds, Iterable):
        raise TypeError(f"`seeds` must be an iterable of ints (e.g. range(8)); got {seeds!r}.")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("`seeds` must hold at least one seed.")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise TypeError(f"`seeds` must hold ints; got {type(seed).__name__} {seed!r}.")
    return [int(s) for s in seeds]
