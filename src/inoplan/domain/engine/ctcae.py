"""CTCAE v5.0 grades of bilirubin, AST and ALT from lab results. Pure.

Bounds come from the label file (``ctcae_*`` thresholds, cited "CTCAE v5.0"). When the
patient's baseline is above the ULN, CTCAE grades against the baseline instead of the ULN.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

__all__ = ["grade"]


def grade(
    value: Decimal,
    uln: Decimal,
    baseline: Decimal | None,
    *,
    uln_bounds: Sequence[Decimal],
    baseline_bounds: Sequence[Decimal],
    first_bound_inclusive: bool = False,
) -> tuple[int, str, Decimal]:
    """The grade (0-4), what it was graded against (``ULN``/``baseline``) and the ratio.

    >>> b = [Decimal(1), Decimal("1.5"), Decimal(3), Decimal(10)]
    >>> grade(Decimal("1.9"), Decimal(1), None, uln_bounds=b, baseline_bounds=b)
    (2, 'ULN', Decimal('1.9'))
    """
    if baseline is not None and baseline > uln:
        ratio = value / baseline
        bounds, against = baseline_bounds, "baseline"
        inclusive_first = first_bound_inclusive
    else:
        ratio = value / uln
        bounds, against = uln_bounds, "ULN"
        inclusive_first = False
    result = 0
    for index, bound in enumerate(bounds):
        if ratio > bound or (index == 0 and inclusive_first and ratio >= bound):
            result = index + 1
    return result, against, ratio
