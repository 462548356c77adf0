"""Synthetic demo data: the raw exports of an omnichannel retailer, with planted effects.

`generate(out_dir)` writes nine exports in their silos' own conventions, an ingest config,
the designed onboarding journey and truth.json (every planted effect with its size, and the
exact mess counts). data/README.md documents the effects and how to measure them.
"""

from .generate import generate

__all__ = ["generate"]
