#!/usr/bin/env python3
"""Run django_activejob's benchmarks and the peers', print the tables and write the results as JSON.

    python3 bench/run.py                                  # everything: every workload, database and peer
    python3 bench/run.py pickup --databases postgres --runs 5 --peers none
    python3 bench/run.py drain --peers pgqueuer,huey

Without Django importable, the script re-runs itself in the virtualenv that
runtests.py keeps (.venv-test/, Django series from DJANGO_SERIES as there).
Each database gets a child process (bench/session.py) with Django settings
for that database only (bench/settings.py). Then the other job queues run
the enqueue, drain and pickup workloads in their own virtualenv
(bench/peers/), followed by pgbench's ceiling, and a last table puts every
library side by side. The results go to
bench/results/<UTC date>-<workloads>.json unless --output names a file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The repository root in place of bench/, so "bench" and "runtests" import as packages of the checkout.
sys.path[0] = str(ROOT)

from bench import databases, peers, workloads  # noqa: E402
from bench.workers import stop_with_parent  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"

#: Seconds a session gets to stop its workers after SIGTERM before it gets SIGKILL.
SESSION_STOP_TIMEOUT = 60.0


def main(argv: list[str]) -> int:
    args = parse_arguments(argv)
    ensure_django(argv, args.databases)
    from bench import machine, report

    # SIGTERM unwinds like an error, so the running session gets SIGTERM and stops its workers.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    results: dict[str, Any] = {
        "command": " ".join(["python3 bench/run.py", *argv]),
        "runs": args.runs,
        "machine": machine.describe_machine(),
        "software": machine.describe_software(),
        "databases": {},
        "workloads": {},
    }
    directory = Path(tempfile.mkdtemp(prefix="activejob-bench-"))
    try:
        sessions = [run_session(database, args, directory) for database in args.databases]
    except BaseException:
        print(f"Stopped early; the worker logs and samples are in {directory}", file=sys.stderr)
        raise
    failed = merge(results, sessions, args)
    if args.peers:
        peer_workloads = [name for name, ours in PEER_WORKLOADS.items() if ours in args.workloads]
        if peer_workloads:
            from bench.peers.environment import SetupError

            try:
                results["peers"] = peers.run_peers(
                    args.peers, peer_workloads, args.runs, PEER_JOBS, directory / "peers",
                    ceiling=args.ceiling, python=args.peer_python,
                )
            except SetupError as exc:
                results["peers"] = {"error": str(exc)}
            failed |= peer_run_failed(results["peers"])
    results["machine"]["load_average_end"] = machine.load_average()

    output = args.output or RESULTS_DIR / (
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%dT%H%M%SZ}-{'+'.join(args.workloads)}.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")

    print()
    print(report.render(results))
    print(f"Wrote {output}")
    if failed:
        print(f"Some runs failed; the worker logs and samples are in {directory}", file=sys.stderr)
        return 1
    shutil.rmtree(directory, ignore_errors=True)
    return 0


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 bench/run.py", description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                        help=f"Workloads to run: {', '.join(workloads.NAMES)}. Default: all.")
    parser.add_argument("--databases", default=",".join(databases.LABELS), metavar="A,B",
                        help=f"Comma-separated databases: {', '.join(databases.LABELS)}. Default: all.")
    parser.add_argument("--runs", type=int, default=3, metavar="N",
                        help="Runs of each variant; the table shows their median, min and max. Default: 3.")
    parser.add_argument("--peers", default=",".join(peers.PEERS), metavar="A,B",
                        help=f"Comma-separated peers to run after django_activejob: "
                             f"{', '.join(peers.PEERS)}; 'none' for none. Default: all.")
    parser.add_argument("--no-ceiling", dest="ceiling", action="store_false",
                        help="Skip the pgbench ceiling that runs after the peers.")
    parser.add_argument("--peer-python", default=None, metavar="PYTHON",
                        help="Python 3.12 or newer for the peers' virtualenv. "
                             "Default: one found on PATH or in pyenv.")
    parser.add_argument("--output", type=Path, default=None, metavar="FILE",
                        help="The JSON results file. Default: bench/results/<UTC date>-<workloads>.json.")
    args = parser.parse_args(argv)

    for name in args.workloads:
        if name not in workloads.NAMES:
            parser.error(f"unknown workload {name!r}: use one of {', '.join(workloads.NAMES)}.")
    args.workloads = list(dict.fromkeys(args.workloads or workloads.NAMES))

    names = [name.strip() for name in args.databases.split(",") if name.strip()]
    if not names:
        parser.error(f"--databases {args.databases!r} names no database: pass e.g. sqlite,postgres.")
    for name in names:
        if name not in databases.LABELS:
            parser.error(f"--databases: unknown database {name!r}; use {', '.join(databases.LABELS)}.")
    args.databases = list(dict.fromkeys(names))

    if args.runs < 1:
        parser.error(f"--runs {args.runs} is invalid: pass 1 or more.")

    names = [name.strip() for name in args.peers.split(",") if name.strip()]
    if names == ["none"]:
        names = []
    for name in names:
        if name not in peers.PEERS:
            parser.error(f"--peers: unknown peer {name!r}; use {', '.join(peers.PEERS)}, or none.")
    args.peers = list(dict.fromkeys(names))
    return args


def ensure_django(argv: list[str], database_names: list[str]) -> None:
    """Re-run this script in runtests.py's virtualenv unless Django is importable already."""
    try:
        import django  # noqa: F401
    except ImportError:
        pass
    else:
        return
    if os.environ.get("BENCH_REEXECUTED"):
        sys.exit(f"Django is not importable by {sys.executable}, the virtualenv that runtests.py built.")

    import runtests

    series = os.environ.get("DJANGO_SERIES", "5.2")
    if series not in runtests.DJANGO_PINS:
        sys.exit(f"DJANGO_SERIES={series!r} is invalid: use one of {sorted(runtests.DJANGO_PINS)}.")
    # mysqlclient compiles against the MariaDB client library, so only install it when needed.
    extras = "dev,mysql" if "mariadb" in database_names else "dev"
    python = runtests.ensure_environment(series, extras)
    os.environ["BENCH_REEXECUTED"] = "1"
    os.execv(python, [str(python), str(Path(__file__).resolve()), *argv])


def run_session(database: str, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """Run the workloads on ``database`` in a child process; return its results or an error."""
    output = directory / f"{database}.json"
    command = [
        sys.executable, "-m", "bench.session", "--database", database, "--runs", str(args.runs),
        "--directory", str(directory), "--output", str(output), *args.workloads,
    ]
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": python_path}
    process = subprocess.Popen(command, cwd=ROOT, env=environment, preexec_fn=stop_with_parent)
    try:
        status = process.wait()
    except BaseException:
        # Ctrl+C reaches the session through the terminal; any other error here needs SIGTERM.
        stop_session(process)
        raise

    if status != 0 or not output.exists():
        return {"database": database, "label": databases.LABELS[database],
                "error": f"The session exited with status {status}; its output is above."}
    return json.loads(output.read_text())


def stop_session(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=SESSION_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def merge(results: dict[str, Any], sessions: list[dict[str, Any]], args: argparse.Namespace) -> bool:
    """Combine the sessions' results into one row list per workload; return True if anything failed."""
    failed = False
    for session in sessions:
        results["databases"][session["database"]] = {
            key: session.get(key) for key in ("label", "vendor", "server_version", "error")
        }
        failed |= "error" in session

    for name in args.workloads:
        module = workloads.load(name)
        rows, skipped = [], []
        for session in sessions:
            if "error" in session:
                rows.append({"database": session["database"], "database_label": session["label"],
                             "variant": None, "label": "(session failed)", "runs": [], "summary": {}})
                continue
            cases = session["workloads"][name]["cases"]
            if not cases:
                skipped.append(session["label"])
            for case in cases:
                rows.append({"database": session["database"], "database_label": session["label"], **case})
                failed |= any("error" in run for run in case["runs"])
        targets = [target for target in module.TARGETS if target.database in args.databases]
        results["workloads"][name] = {
            "title": module.TITLE,
            "metrics": module.METRICS,
            "variant_header": getattr(module, "VARIANT_HEADER", "Variant"),
            "rows": rows,
            # Databases the workload has no variants for, such as SQLite for a PostgreSQL-only one.
            "skipped": skipped,
            "targets": workloads.check_targets(targets, rows),
        }
    return failed


#: The peers' workload for each of ours; the peers have no memory or admin workload.
PEER_WORKLOADS = {"w1": "enqueue", "w1b": "enqueue", "w2": "drain", "w3": "pickup"}

#: Jobs per peer run for enqueue, bulk enqueue and drain, as in bench/workloads/enqueue.py and drain.py.
PEER_JOBS = 10_000


def peer_run_failed(result: dict[str, Any]) -> bool:
    if "error" in result:
        return True
    ceiling = result.get("ceiling") or {}
    return any("error" in row or row["errors"] for row in result["peers"]) or "error" in ceiling


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
