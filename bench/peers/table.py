"""Markdown tables of the peer results: one row per peer, then the pgbench ceiling."""

from __future__ import annotations

from typing import Any

HEADER = ["peer", "store", "W1 jobs/s", "bulk jobs/s", "W2 drain jobs/s (steady)", "W3 p50 / p95 ms",
          "workers"]


def render(results: dict[str, Any]) -> str:
    """Return the peers' table, the failures under it, and the ceiling table when it ran."""
    lines = [
        f"Peers: {results['jobs']:,} jobs for W1, bulk and W2, 200 for W3; "
        + ("median of " + str(results["runs"]) + " runs (min-max)" if results["runs"] > 1 else "1 run")
        + f"; {results.get('python', '')}.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    failures, warnings = [], []
    for row in results["peers"]:
        lines.append("| " + " | ".join(row_cells(row, results["workloads"])) + " |")
        for error in row["errors"]:
            first_line = error["error"].splitlines()[0]
            failures.append(f"- {row['label']}, {error['workload']}, run {error['run']}: {first_line}")
        for warning in row.get("warnings", []):
            warnings.append(f"- {row['label']}, {warning['workload']}, run {warning['run']}: "
                            f"{warning['warning']}")
    if failures:
        lines += ["", "Failed runs (not in the figures above):", *failures]
    if warnings:
        lines += ["", "Warnings (the figures above include these runs):", *warnings]

    if results.get("ceiling"):
        lines += ["", render_ceiling(results["ceiling"])]
    return "\n".join(lines)


def render_ceiling(ceiling: dict[str, Any]) -> str:
    if "error" in ceiling:
        return f"PostgreSQL ceiling (pgbench) failed: {ceiling['error']}"
    lines = [
        f"PostgreSQL ceiling: {ceiling['pgbench']}, -M prepared over TCP loopback, "
        f"{ceiling['seconds']} s per run.",
        "",
        "| pgbench statement | clients | jobs/s |",
        "|---|---|---|",
    ]
    for case in ceiling["cases"]:
        cell = format_spread(case["jobs_per_second"]) if "jobs_per_second" in case else ""
        if "error" in case:
            cell = (cell + "; " if cell else "") + "failed: " + case["error"]
        lines.append(f"| {case['title']} | {case['clients']} | {cell} |")
    return "\n".join(lines)


def row_cells(row: dict[str, Any], workloads: list[str]) -> list[str]:
    figures = row["figures"]
    if "error" in row and not figures:
        first_line = row["error"].splitlines()[0]
        return [row["label"], row["store"], f"error: {first_line}", "", "", "", row["workers"]]

    def cell(workload: str, figure: str) -> str:
        if workload not in workloads:
            return ""
        if figure in figures:
            return format_spread(figures[figure])
        return "failed"

    bulk = cell("w1b", "w1b_jobs_per_second") if row.get("has_bulk") else "—"
    drain = cell("w2", "w2_jobs_per_second")
    if "w2_steady_jobs_per_second" in figures:
        drain += f" (steady {format_spread(figures['w2_steady_jobs_per_second'])})"
    latency = cell("w3", "w3_p50_ms")
    if "w3_p95_ms" in figures:
        latency += f" / {format_spread(figures['w3_p95_ms'])}"
    enqueue = cell("w1", "w1_jobs_per_second")
    return [row["label"], row["store"], enqueue, bulk, drain, latency, row["workers"]]


def format_spread(figure: dict[str, Any]) -> str:
    """Format a median with its (min-max) range; a single run shows its value only."""
    if len(figure["runs"]) == 1:
        return format_number(figure["median"])
    median, low, high = (format_number(figure[key]) for key in ("median", "min", "max"))
    return f"{median} ({low}-{high})"


def format_number(value: float) -> str:
    if round(value, 1) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"
