"""The lab: catalog, experiment workflow, runner, SDK and CLI.

Kept import-light: ``import lab`` must not pull in torch, tenseal or Flower.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
