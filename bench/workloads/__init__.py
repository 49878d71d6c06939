"""The benchmark workloads, one module each.

A workload module defines:

``TITLE``
    One line that states what the workload measures.
``METRICS``
    ``(key, column header)`` pairs: the figures of one run that the table
    shows as the median over runs, with the minimum and maximum.
``TARGETS``
    Goals checked against the median of a metric, as ``Target`` objects.
``variants(vendor)``
    The configurations to measure on a database of that Django vendor
    ("sqlite", "postgresql", "mysql"), each with a ``key`` and a ``label``.
``measure(variant, session)``
    Run the workload once in a bench.session.Session and return a dict with
    every metric and any extra figures for the JSON file.

Optional:

``VARIANT_HEADER``
    The header of the table's variant column. Default: "Variant".
``MAX_RUNS``
    The most runs the workload makes, whatever the value of ``--runs``, for a
    workload that takes minutes per run.
``prepare(session)``
    Called once per run before its variants, e.g. to fill tables that every
    variant reads. The session keeps what it returns as
    ``session.prepared``. A MeasurementError fails every variant of that run.
``finish(session)``
    Called after the variants of each run, also when one of them failed.

A workload may return no variants for a vendor. bench/run.py then skips it
on that database and notes that under the table.

Add a module here and its name to NAMES to add a workload.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

#: Workload names in run order; bench/run.py runs them all when none is named.
NAMES = ("enqueue", "drain", "pickup", "memory", "admin")


@dataclass(frozen=True)
class Target:
    """A goal for the median of ``metric``: under ``below``, or ``above`` or more."""

    database: str
    variant: str
    metric: str
    description: str
    below: float | None = None
    above: float | None = None

    def met_by(self, median: float | None) -> bool:
        if median is None:
            return False
        return (self.below is None or median < self.below) and (self.above is None or median >= self.above)


class MeasurementError(Exception):
    """A run finished without a valid measurement."""


def load(name: str) -> ModuleType:
    """Import the workload module called ``name``."""
    if name not in NAMES:
        raise ValueError(f"Unknown workload {name!r}: use one of {', '.join(NAMES)}.")
    return importlib.import_module(f"{__name__}.{name}")


def check_targets(targets: list[Target], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Compare the median of each target's metric with its limit; a missing figure is not met.

    ``rows`` are the table rows of one workload, each with its "database",
    "variant" and "summary" (the spread of each metric over the runs).
    """
    checked = []
    for target in targets:
        median = None
        for row in rows:
            if row["database"] == target.database and row["variant"] == target.variant and row["summary"]:
                median = row["summary"][target.metric]["median"]
        checked.append({
            "description": target.description,
            "database": target.database,
            "variant": target.variant,
            "metric": target.metric,
            "below": target.below,
            "above": target.above,
            "median": median,
            "met": target.met_by(median),
        })
    return checked
