"""fourierflow: training dynamics of two-layer networks learning modular addition.

The public API is the list of names below; see SPEC sections 1-11 and the docs.
"""

from ._io import write_json as write_json
from ._activations import ACTIVATIONS as ACTIVATIONS, get_activation as get_activation
from ._configs import (
    CONFIGS as CONFIGS,
    TrainConfig as TrainConfig,
    config_setup as config_setup,
    get_config as get_config,
    run_config as run_config,
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
from .flows import (
    Comparison as Comparison,
    FlowArgs as FlowArgs,
    FlowSolution as FlowSolution,
    NeuronTrack as NeuronTrack,
    Spectrum as Spectrum,
    compare as compare,
    exact_vector_field as exact_vector_field,
    flow_args as flow_args,
    main_flow_vector_field as main_flow_vector_field,
    solve_exact as solve_exact,
    solve_main as solve_main,
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
from .reduced import (
    AlignmentResult as AlignmentResult,
    ReducedSolution as ReducedSolution,
    alignment_chunk_size as alignment_chunk_size,
    alignment_time as alignment_time,
    alignment_time_closed_form as alignment_time_closed_form,
    alignment_time_exact as alignment_time_exact,
    blowup_time as blowup_time,
    blowup_time_closed_form as blowup_time_closed_form,
    invariants as invariants,
    reduced_rate as reduced_rate,
    reduced_vector_field as reduced_vector_field,
    solve_alignment as solve_alignment,
    solve_reduced as solve_reduced,
    turning_time as turning_time,
    turning_time_closed_form as turning_time_closed_form,
)
from .sweeps import (
    SweepResult as SweepResult,
    load_sweep as load_sweep,
    merge_sweeps as merge_sweeps,
    sweep as sweep,
    sweep_alignment as sweep_alignment,
    sweep_lottery as sweep_lottery,
)
from .theory import (
    DominanceResult as DominanceResult,
    alignment_time_bound as alignment_time_bound,
    dominance_time as dominance_time,
    dominance_time_bound as dominance_time_bound,
    magnitude_at_alignment as magnitude_at_alignment,
    solve_dominance as solve_dominance,
)
from ._train import (
    History as History,
    TrainResult as TrainResult,
    evaluate as evaluate,
    grokking_stages as grokking_stages,
    train as train,
)

__version__ = "0.1.0"
