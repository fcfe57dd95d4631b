"""fourierflow: training dynamics of two-layer networks learning modular addition.

The public API is the list of names below (`__all__`); the implementation lives in private
modules, one concept each. The mathematics is on the docs' theory page.
"""

from ._activations import ACTIVATIONS as ACTIVATIONS, get_activation as get_activation
from ._alignment import alignment_time as alignment_time, solve_alignment as solve_alignment
from ._bounds import (
    alignment_time_bound as alignment_time_bound,
    dominance_time_bound as dominance_time_bound,
    magnitude_at_alignment as magnitude_at_alignment,
)
from ._cache import enable_compilation_cache as enable_compilation_cache
from ._chunking import (
    alignment_chunk_size as alignment_chunk_size,
    default_chunk_size as default_chunk_size,
    ensemble_chunk_size as ensemble_chunk_size,
)
from ._closed_form import (
    alignment_time_closed_form as alignment_time_closed_form,
    alignment_time_exact as alignment_time_exact,
    blowup_time as blowup_time,
    blowup_time_closed_form as blowup_time_closed_form,
    carlson_rf as carlson_rf,
    turning_time as turning_time,
    turning_time_closed_form as turning_time_closed_form,
)
from ._compare import Comparison as Comparison, NeuronTrack as NeuronTrack, compare as compare
from ._configs import (
    CONFIGS as CONFIGS,
    ENSEMBLE_AXES as ENSEMBLE_AXES,
    TrainConfig as TrainConfig,
    config_setup as config_setup,
    ensemble_members as ensemble_members,
    ensemble_setup as ensemble_setup,
    get_config as get_config,
    run_config as run_config,
    run_ensemble as run_ensemble,
)
from ._data import (
    FoldedPairs as FoldedPairs,
    Split as Split,
    all_pairs as all_pairs,
    fold_pairs as fold_pairs,
    full_split as full_split,
    random_split as random_split,
    symmetric_pairs as symmetric_pairs,
)
from ._dominance import dominance_time as dominance_time, solve_dominance as solve_dominance
from ._ensemble import flow_statistics as flow_statistics, solve_ensemble as solve_ensemble
from ._ensemble_train import (
    EnsembleResult as EnsembleResult,
    stack_nets as stack_nets,
    train_ensemble as train_ensemble,
)
from ._events import (
    AbstractEvent as AbstractEvent,
    Aligned as Aligned,
    BlowUp as BlowUp,
    MagnitudeAbove as MagnitudeAbove,
)
from ._flow_solve import (
    Spectrum as Spectrum,
    flow_spectrum as flow_spectrum,
    solve_exact as solve_exact,
    solve_main as solve_main,
)
from ._flows import (
    FlowArgs as FlowArgs,
    exact_vector_field as exact_vector_field,
    flow_args as flow_args,
    main_flow_vector_field as main_flow_vector_field,
)
from ._fourier import (
    dominant_frequency as dominant_frequency,
    fourier_basis as fourier_basis,
    fourier_coefficients as fourier_coefficients,
    frequencies as frequencies,
    from_polar as from_polar,
    ipr as ipr,
    misalignment as misalignment,
    num_frequencies as num_frequencies,
    phase_difference as phase_difference,
    polar as polar,
    wrap_angle as wrap_angle,
)
from ._init import (
    diversified as diversified,
    init_gaussian as init_gaussian,
    init_multi_frequency as init_multi_frequency,
    init_single_frequency as init_single_frequency,
)
from ._io import (
    lock_folder as lock_folder,
    write_atomic as write_atomic,
    write_json as write_json,
)
from ._leakage import (
    decoupled_loss as decoupled_loss,
    gradient_spectrum as gradient_spectrum,
    harmonic_orders as harmonic_orders,
    leakage_ratio_law as leakage_ratio_law,
    leakage_ratios as leakage_ratios,
)
from ._margins import (
    cross_entropy as cross_entropy,
    diversified_logits as diversified_logits,
    group_logits as group_logits,
    logit_margin as logit_margin,
)
from ._metrics import (
    dominant_frequencies as dominant_frequencies,
    frequency_sparsity as frequency_sparsity,
    neuron_spectrum as neuron_spectrum,
    phase_alignment as phase_alignment,
    weight_norm as weight_norm,
)
from ._network import (
    TwoLayerNet as TwoLayerNet,
    accuracy as accuracy,
    folded_loss as folded_loss,
    loss as loss,
)
from ._outcome import Outcome as Outcome, outcome_names as outcome_names
from ._reduced_ode import (
    invariants as invariants,
    reduced_vector_field as reduced_vector_field,
    solve_reduced as solve_reduced,
)
from ._reduced_sweeps import sweep_alignment as sweep_alignment, sweep_lottery as sweep_lottery
from ._solution import (
    AbstractSolution as AbstractSolution,
    AlignmentSolution as AlignmentSolution,
    DominanceSolution as DominanceSolution,
    FlowSolution as FlowSolution,
    ReducedSolution as ReducedSolution,
    ReducedState as ReducedState,
)
from ._sweep import parse_shard as parse_shard, shard_bounds as shard_bounds, sweep as sweep
from ._sweep_result import (
    SweepResult as SweepResult,
    load_sweep as load_sweep,
    merge_sweeps as merge_sweeps,
)
from ._timescale import reduced_rate as reduced_rate
from ._train import (
    History as History,
    TrainResult as TrainResult,
    evaluate as evaluate,
    grokking_stages as grokking_stages,
    train as train,
)
from ._version import __version__ as __version__  # noqa: E402

__all__ = sorted(name for name in dir() if not name.startswith("_")) + ["__version__"]
