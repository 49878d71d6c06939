"""Percentiles of one run and the spread of a figure over several runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], percent: float) -> float:
    """Return the ``percent`` percentile, interpolating linearly between the two nearest ranks.

    This is NumPy's default ("linear") method: percentile([1, 2, 3, 4], 50) is 2.5.
    """
    if not values:
        raise ValueError("percentile() needs at least one value.")
    if not 0 <= percent <= 100:
        raise ValueError(f"percent {percent!r} is invalid: use a number from 0 to 100.")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Return the median, minimum and maximum of one figure over several runs."""
    if not values:
        raise ValueError("spread() needs at least one value.")
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}
