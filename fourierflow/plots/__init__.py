"""Figures. Imported explicitly (`from fourierflow import plots`), never by `import fourierflow`,
so the package imports without matplotlib work. One module per concept; each adds its
re-exports below.

Every figure is drawn at its printed size, a paper column (`COLUMN_WIDTH`, 3.5 in) or a page
(`PAGE_WIDTH`, 7 in), with no text under 7 pt; `save_figure` writes it as PNG, PDF and/or SVG.
"""

from ._style import (
    COLUMN_WIDTH as COLUMN_WIDTH,
    PAGE_WIDTH as PAGE_WIDTH,
    save_figure as save_figure,
)
from .diversified import plot_ablation as plot_ablation, plot_logits as plot_logits
from .flows import plot_flow_comparison as plot_flow_comparison
from .lottery import (
    plot_beta_contour as plot_beta_contour,
    plot_collapse as plot_collapse,
    plot_collapse_check as plot_collapse_check,
    plot_dominance_scaling as plot_dominance_scaling,
    plot_histogram as plot_histogram,
    plot_mean_field as plot_mean_field,
    plot_racing as plot_racing,
    plot_ratio_band as plot_ratio_band,
)
from .spectrum import plot_spectra as plot_spectra
from .training import (
    plot_cosine_fits as plot_cosine_fits,
    plot_dft_heatmap as plot_dft_heatmap,
    plot_dft_over_training as plot_dft_over_training,
    plot_ensemble_history as plot_ensemble_history,
    plot_history as plot_history,
    plot_memorization as plot_memorization,
    plot_pair_heatmaps as plot_pair_heatmaps,
    plot_phase_doubling as plot_phase_doubling,
    plot_phase_groups as plot_phase_groups,
)
from .validity import plot_validity_map as plot_validity_map
