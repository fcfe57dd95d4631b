"""Figures. Imported explicitly (`from fourierflow import plots`), never by `import fourierflow`,
so the package imports without matplotlib work. One module per concept; each adds its
re-exports below."""

from .diversified import plot_ablation as plot_ablation
from .diversified import plot_logits as plot_logits
from .flows import plot_flow_comparison as plot_flow_comparison
from .lottery import (
    plot_beta_contour as plot_beta_contour,
)
from .lottery import (
    plot_collapse as plot_collapse,
)
from .lottery import (
    plot_dominance_scaling as plot_dominance_scaling,
)
from .lottery import (
    plot_histogram as plot_histogram,
)
from .lottery import (
    plot_racing as plot_racing,
)
from .lottery import (
    plot_ratio_band as plot_ratio_band,
)
from .spectrum import plot_spectra as plot_spectra
from .training import (
    plot_cosine_fits as plot_cosine_fits,
)
from .training import (
    plot_dft_heatmap as plot_dft_heatmap,
)
from .training import (
    plot_dft_over_training as plot_dft_over_training,
)
from .training import (
    plot_history as plot_history,
)
from .training import (
    plot_memorization as plot_memorization,
)
from .training import (
    plot_pair_heatmaps as plot_pair_heatmaps,
)
from .training import (
    plot_phase_doubling as plot_phase_doubling,
)
from .training import (
    plot_phase_groups as plot_phase_groups,
)
