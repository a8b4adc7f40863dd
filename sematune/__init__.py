"""SemaTune: online OS-parameter tuning for real workloads.

Targets measure bounded windows, tuners propose knob settings, and the engine validates,
applies, scores, tracks and always restores the host. Everything is wired by Hydra configs
under ``sematune/conf``; see ``python -m sematune --help``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
