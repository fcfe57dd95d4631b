"""Figures. Imported explicitly (`from fourierflow import plots`), never by `import fourierflow`,
so the package imports without matplotlib work. One module per concept; each adds its
re-exports below."""

from .spectrum import plot_spectra as plot_spectra
from .diversified import plot_ablation as plot_ablation, plot_logits as plot_logits
