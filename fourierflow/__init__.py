"""fourierflow: training dynamics of two-layer networks learning modular addition.

The public API is the list of names below; see SPEC sections 1-11 and the docs.
"""

from ._io import write_json as write_json
from .activations import ACTIVATIONS as ACTIVATIONS
from .activations import get_activation as get_activation
from .configs import (
    CONFIGS as CONFIGS,
)
from .configs import (
    TrainConfig as TrainConfig,
)
from .configs import (
    config_setup as config_setup,
)
from .configs import (
    get_config as get_config,
)
from .configs import (
    run_config as run_config,
)
from .data import (
    Split as Split,
)
from .data import (
    all_pairs as all_pairs,
)
from .data import (
    full_split as full_split,
)
from .data import (
    random_split as random_split,
)
from .flows import (
    Comparison as Comparison,
)
from .flows import (
    FlowArgs as FlowArgs,
)
from .flows import (
    FlowSolution as FlowSolution,
)
from .flows import (
    NeuronTrack as NeuronTrack,
)
from .flows import (
    Spectrum as Spectrum,
)
from .flows import (
    compare as compare,
)
from .flows import (
    exact_vector_field as exact_vector_field,
)
from .flows import (
    flow_args as flow_args,
)
from .flows import (
    main_flow_vector_field as main_flow_vector_field,
)
from .flows import (
    solve_exact as solve_exact,
)
from .flows import (
    solve_main as solve_main,
)
from .fourier import (
    dominant_frequency as dominant_frequency,
)
from .fourier import (
    fourier_basis as fourier_basis,
)
from .fourier import (
    fourier_coefficients as fourier_coefficients,
)
from .fourier import (
    frequencies as frequencies,
)
from .fourier import (
    from_polar as from_polar,
)
from .fourier import (
    ipr as ipr,
)
from .fourier import (
    misalignment as misalignment,
)
from .fourier import (
    num_frequencies as num_frequencies,
)
from .fourier import (
    phase_difference as phase_difference,
)
from .fourier import (
    polar as polar,
)
from .init import (
    diversified as diversified,
)
from .init import (
    init_gaussian as init_gaussian,
)
from .init import (
    init_multi_frequency as init_multi_frequency,
)
from .init import (
    init_single_frequency as init_single_frequency,
)
from .leakage import (
    decoupled_loss as decoupled_loss,
)
from .leakage import (
    gradient_spectrum as gradient_spectrum,
)
from .leakage import (
    harmonic_orders as harmonic_orders,
)
from .leakage import (
    leakage_ratio_law as leakage_ratio_law,
)
from .leakage import (
    leakage_ratios as leakage_ratios,
)
from .margins import (
    cross_entropy as cross_entropy,
)
from .margins import (
    diversified_logits as diversified_logits,
)
from .margins import (
    group_logits as group_logits,
)
from .margins import (
    logit_margin as logit_margin,
)
from .metrics import (
    dominant_frequencies as dominant_frequencies,
)
from .metrics import (
    frequency_sparsity as frequency_sparsity,
)
from .metrics import (
    neuron_spectrum as neuron_spectrum,
)
from .metrics import (
    phase_alignment as phase_alignment,
)
from .metrics import (
    weight_norm as weight_norm,
)
from .network import TwoLayerNet as TwoLayerNet
from .network import accuracy as accuracy
from .network import loss as loss
from .reduced import (
    AlignmentResult as AlignmentResult,
)
from .reduced import (
    ReducedSolution as ReducedSolution,
)
from .reduced import (
    alignment_time as alignment_time,
)
from .reduced import (
    alignment_time_closed_form as alignment_time_closed_form,
)
from .reduced import (
    alignment_time_exact as alignment_time_exact,
)
from .reduced import (
    blowup_time as blowup_time,
)
from .reduced import (
    blowup_time_closed_form as blowup_time_closed_form,
)
from .reduced import (
    invariants as invariants,
)
from .reduced import (
    reduced_rate as reduced_rate,
)
from .reduced import (
    reduced_vector_field as reduced_vector_field,
)
from .reduced import (
    solve_alignment as solve_alignment,
)
from .reduced import (
    solve_reduced as solve_reduced,
)
from .reduced import (
    turning_time as turning_time,
)
from .reduced import (
    turning_time_closed_form as turning_time_closed_form,
)
from .sweeps import (
    SweepResult as SweepResult,
)
from .sweeps import (
    load_sweep as load_sweep,
)
from .sweeps import (
    merge_sweeps as merge_sweeps,
)
from .sweeps import (
    sweep as sweep,
)
from .sweeps import (
    sweep_alignment as sweep_alignment,
)
from .sweeps import (
    sweep_lottery as sweep_lottery,
)
from .theory import (
    DominanceResult as DominanceResult,
)
from .theory import (
    alignment_time_bound as alignment_time_bound,
)
from .theory import (
    dominance_time as dominance_time,
)
from .theory import (
    dominance_time_bound as dominance_time_bound,
)
from .theory import (
    magnitude_at_alignment as magnitude_at_alignment,
)
from .theory import (
    solve_dominance as solve_dominance,
)
from .train import (
    History as History,
)
from .train import (
    TrainResult as TrainResult,
)
from .train import (
    evaluate as evaluate,
)
from .train import (
    grokking_stages as grokking_stages,
)
from .train import (
    symmetric_pairs as symmetric_pairs,
)
from .train import (
    train as train,
)

__version__ = "0.1.0"
