"""Run workloads on one database, in a process whose Django settings use that database.

bench/run.py starts one session per database::

    python -m bench.session --database postgres --runs 3 --directory DIR --output FILE pickup

The session creates and migrates the database and runs each workload's
variants ``--runs`` times. It runs every variant once before it starts the
second round, so slow drift in the host's load spreads over all variants.
It writes the runs, their medians and the database server's version to FILE
as JSON. bench/run.py checks the targets
once every database has run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from bench import databases, workloads
from bench.stats import spread
from bench.workers import WorkerError, WorkerProcess


class Session:
    """The context of one run that a workload's ``measure()`` receives: database, scratch files, workers."""

    def __init__(self, *, database: str, vendor: str, directory: Path, run: int) -> None:
        self.database = database
        self.vendor = vendor
        self.directory = directory
        self.run = run
        #: The value that the workload's ``prepare(session)`` returned for this run, or None.
        self.prepared: Any = None

    def path(self, name: str) -> Path:
        """Return a path in the scratch directory that no other database or run uses."""
        return self.directory / f"{self.database}-run{self.run}-{name}"

    def worker(self, name: str, *, arguments: list[str], activejob: dict[str, Any],
               environment: dict[str, str]) -> WorkerProcess:
        """Return a worker process for this run; enter it with ``with`` to start and stop it."""
        return WorkerProcess(
            identifier=f"bench-{self.database}-run{self.run}-{name}",
            log_path=self.path(f"{name}.log"),
            arguments=arguments,
            activejob=activejob,
            environment=environment,
        )


def main(argv: list[str]) -> int:
    args = parse_arguments(argv)
    os.environ["BENCH_DATABASE"] = args.database
    os.environ["BENCH_SQLITE_DIR"] = str(args.directory)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    # SIGTERM from bench/run.py unwinds like an error, so every running worker is stopped.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    try:
        databases.create_database(settings.DATABASES["default"])
    except databases.DatabaseUnavailableError as exc:
        print(f"[{databases.LABELS[args.database]}] {exc}", file=sys.stderr, flush=True)
        return 1
    databases.migrate()
    result: dict[str, Any] = {
        "database": args.database,
        "label": databases.LABELS[args.database],
        "vendor": connection.vendor,
        "server_version": databases.server_version(),
        "workloads": {},
    }
    for name in args.workloads:
        module = workloads.load(name)
        result["workloads"][name] = run_workload(module, args, connection.vendor)

    args.output.write_text(json.dumps(result, indent=2))
    return 0


def run_workload(module: ModuleType, args: argparse.Namespace, vendor: str) -> dict[str, Any]:
    """Measure every variant of ``module`` ``args.runs`` times; return the runs with their spread.

    A workload without variants for this database is skipped. When the
    workload defines ``prepare(session)``, each run calls it once before
    its variants, and ``finish(session)`` after them, also when one failed.
    """
    variants = module.variants(vendor)
    cases = {
        variant.key: {"variant": variant.key, "label": variant.label, "runs": []} for variant in variants
    }
    workload = module.__name__.rpartition(".")[2]
    label = databases.LABELS[args.database]
    result = {"title": module.TITLE, "metrics": module.METRICS, "cases": []}
    if not variants:
        print(f"[{label}] {workload}: skipped, it has no variants for {label}.", flush=True)
        return result

    # A workload that takes minutes per run, such as memory, caps its runs with MAX_RUNS.
    runs = min(args.runs, getattr(module, "MAX_RUNS", args.runs))
    for run in range(1, runs + 1):
        session = Session(database=args.database, vendor=vendor, directory=args.directory, run=run)
        try:
            error = prepare_run(module, session)
            for variant in variants:
                prefix = f"[{label}] {workload}, {variant.label}, run {run}/{runs}:"
                if error is not None:
                    cases[variant.key]["runs"].append({"error": error})
                    continue
                try:
                    figures = module.measure(variant, session)
                except (WorkerError, workloads.MeasurementError) as exc:
                    print(f"{prefix} failed: {exc}", file=sys.stderr, flush=True)
                    cases[variant.key]["runs"].append({"error": str(exc)})
                    continue
                cases[variant.key]["runs"].append(figures)
                summary = ", ".join(
                    f"{header} {figures[key]:.1f}" for key, header in module.METRICS if key in figures
                )
                print(f"{prefix} {summary}", flush=True)
        finally:
            if hasattr(module, "finish"):
                module.finish(session)

    for case in cases.values():
        measured = [run for run in case["runs"] if "error" not in run]
        case["summary"] = {}
        if measured:
            # A metric that a variant doesn't report, such as a share of itself, stays out.
            case["summary"] = {
                key: spread([run[key] for run in measured])
                for key, _ in module.METRICS if all(key in run for run in measured)
            }

    result["cases"] = list(cases.values())
    return result


def prepare_run(module: ModuleType, session: Session) -> str | None:
    """Call the workload's ``prepare(session)``, if it has one.

    Return the error that it raised, or None when it succeeded.
    """
    if not hasattr(module, "prepare"):
        return None
    try:
        session.prepared = module.prepare(session)
    except (WorkerError, workloads.MeasurementError) as exc:
        error = f"Preparing run {session.run} failed: {exc}"
        print(f"[{databases.LABELS[session.database]}] {error}", file=sys.stderr, flush=True)
        return error
    return None


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.session", description=__doc__.split("\n")[0])
    parser.add_argument("workloads", nargs="+", choices=workloads.NAMES, metavar="WORKLOAD")
    parser.add_argument("--database", required=True, choices=list(databases.LABELS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--directory", type=Path, required=True,
                        help="An existing scratch directory for the SQLite file, worker logs and samples.")
    parser.add_argument("--output", type=Path, required=True, help="The JSON file to write.")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs {args.runs} is invalid: pass 1 or more.")
    if not args.directory.is_dir():
        parser.error(f"--directory {str(args.directory)!r} is not a directory: create it first.")
    return args


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
