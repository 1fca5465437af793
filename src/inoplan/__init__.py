"""inoplan: clinical decision support for inotuzumab ozogamicin (BESPONSA).

Decision support, not orders: a qualified clinician confirms every decision.
Importing this package is cheap on purpose (no web framework, database or NumPy).
"""

from __future__ import annotations

__version__ = "0.1.0"

DISCLAIMER = (
    "Clinical decision support, not an order: a qualified clinician must confirm every "
    "decision against the prescribing information."
)

__all__ = ["DISCLAIMER", "__version__"]
