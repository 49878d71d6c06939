"""Format benchmark results as Markdown tables, the form bench/README.md shows them in."""

from __future__ import annotations

from typing import Any


def render(results: dict[str, Any]) -> str:
    """Return the header line about the host, then one table per workload with its targets."""
    parts = [describe_host(results)]
    for workload in results["workloads"].values():
        parts.append(workload_table(workload))
    return "\n\n".join(parts) + "\n"


def describe_host(results: dict[str, Any]) -> str:
    machine, software = results["machine"], results["software"]
    servers = ", ".join(
        f"{database['label']} {database.get('server_version') or '(not reached)'}"
        for database in results["databases"].values()
    )
    load = machine.get("load_average")
    return (
        f"{machine['date']}, {machine['cpu_count']} CPUs ({machine['cpu_model'] or 'unknown model'}), "
        f"load average {load[0] if load else '?'} at the start; Python {software['python']}, "
        f"Django {software['django']}; {servers}. Median of {results['runs']} runs (min-max)."
    )


def workload_table(workload: dict[str, Any]) -> str:
    headers = [
        "Database", workload.get("variant_header", "Variant"), *(header for _, header in workload["metrics"]),
        "Runs",
    ]
    lines = [f"{workload['title']}."]
    skipped = workload.get("skipped", [])
    if not workload["rows"]:
        lines.append(f"No rows: the workload has no variants for {', '.join(skipped) or 'these databases'}.")
        return "\n".join(lines)
    lines += ["", row(headers), row(["---"] * len(headers))]
    for case in workload["rows"]:
        runs = case["runs"]
        measured = sum("error" not in run for run in runs)
        if case["summary"]:
            figures = [format_spread(case["summary"][key]) for key, _ in workload["metrics"]]
        else:
            figures = ["failed"] * len(workload["metrics"])
        counted = str(measured) if measured == len(runs) else f"{measured} of {len(runs)}"
        lines.append(row([case["database_label"], case["label"], *figures, counted]))

    for target in workload["targets"]:
        if target["median"] is None:
            verdict = "not measured"
        else:
            verdict = f"{'met' if target['met'] else 'NOT met'} ({format_number(target['median'])})"
        lines.append("")
        lines.append(f"Target, {target['description']}: {verdict}.")
    if skipped:
        lines.append("")
        lines.append(f"Not run on {', '.join(skipped)}, which the workload has no variants for.")
    return "\n".join(lines)


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def format_spread(spread: dict[str, float]) -> str:
    """Format a median with its range, e.g. "3.1 (2.9-3.4)"."""
    low, high = format_number(spread["min"]), format_number(spread["max"])
    return f"{format_number(spread['median'])} ({low}-{high})"


def format_number(value: float) -> str:
    """Format a figure without decimals from 100 up and with one below. An int stays whole."""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
