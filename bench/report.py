"""Format benchmark results as Markdown tables, the form bench/README.md shows them in."""

from __future__ import annotations

from typing import Any


def render(results: dict[str, Any]) -> str:
    """Return the header line about the host, one table per workload with its targets, then the peers."""
    parts = [describe_host(results)]
    for workload in results["workloads"].values():
        parts.append(workload_table(workload))
    if "peers" in results:
        parts.append(peers_section(results))
    return "\n\n".join(parts) + "\n"


#: Our pickup variant shown beside the peers on each database: each one's default wake-up.
DEFAULT_PICKUP = {"postgres": "listen", "mariadb": "poll-5s", "sqlite": "poll-5s"}


def peers_section(results: dict[str, Any]) -> str:
    """Return one table with django_activejob's rows above the peers', then pgbench's ceiling."""
    from bench.peers import table

    peers = results["peers"]
    if "error" in peers:
        return f"The peers did not run: {peers['error']}"
    lines = [
        "django_activejob beside the other job queues, same host, same workloads "
        f"({peers['jobs']:,} jobs; W3: 200 jobs 20 ms apart); "
        + (f"median of {results['runs']} runs (min-max)." if results["runs"] > 1 else "1 run."),
        "",
        row(table.HEADER),
        row(["---"] * len(table.HEADER)),
    ]
    for database, described in results["databases"].items():
        lines.append(row(our_cells(results, database, described["label"])))
    failures = []
    for peer in peers["peers"]:
        lines.append(row(table.row_cells(peer, peers["workloads"])))
        for error in peer["errors"]:
            failures.append(f"- {peer['label']}, {error['workload']}, run {error['run']}: "
                            f"{error['error'].splitlines()[0]}")
    if failures:
        lines += ["", "Failed peer runs (not in the figures above):", *failures]
    if peers.get("ceiling"):
        lines += ["", table.render_ceiling(peers["ceiling"])]
    return "\n".join(lines)


def our_cells(results: dict[str, Any], database: str, label: str) -> list[str]:
    """Return django_activejob's cells on ``database`` in the peers' table columns."""
    def figure(workload: str, variant: str, metric: str) -> str:
        for case in results["workloads"].get(workload, {}).get("rows", []):
            if case["database"] == database and case["variant"] == variant and metric in case["summary"]:
                spread = case["summary"][metric]
                # One run has no range, as in the peers' rows.
                return format_spread(spread) if results["runs"] > 1 else format_number(spread["median"])
        return ""

    drain = figure("drain", "processes-2", "jobs_s")
    steady = figure("drain", "processes-2", "steady_jobs_s")
    pickup = DEFAULT_PICKUP[database]
    p50, p95 = figure("pickup", pickup, "p50_ms"), figure("pickup", pickup, "p95_ms")
    wake = "LISTEN/NOTIFY" if pickup == "listen" else "5 s poll (default)"
    return [
        "django_activejob (this checkout)", label,
        figure("enqueue", "perform_later", "jobs_s"),
        figure("enqueue", "perform_all_later", "jobs_s"),
        f"{drain} (steady {steady})" if drain else "",
        f"{p50} / {p95}" if p50 else "",
        f"jobs_worker --processes 2, {wake}",
    ]


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
        f"Django {software['django']}; {servers}. "
        + (f"Median of {results['runs']} runs (min-max)." if results["runs"] > 1 else "1 run.")
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
            figures = [
                format_spread(case["summary"][key]) if key in case["summary"] else "—"
                for key, _ in workload["metrics"]
            ]
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
