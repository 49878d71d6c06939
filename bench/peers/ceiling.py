"""Measure the job-queue throughput that PostgreSQL itself allows on this host, with pgbench.

    python3 bench/peers/ceiling.py [--runs 1] [--seconds 10]

Each case runs one SQL script with pgbench over TCP loopback with prepared
statements (-M prepared) for a fixed time, on scratch tables in the peers'
database. The claim cases start from a pre-filled table and fail when it
runs empty, because the rate then no longer measures a claim. Needs Debian's
psql and pgbench on PATH (package postgresql-client). Standard library only.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from bench.peers import servers
from bench.stats import spread

SCHEMA = """
DROP TABLE IF EXISTS ceiling_jobs, ceiling_jobs_kept;
CREATE TABLE ceiling_jobs (
    id bigserial PRIMARY KEY,
    priority integer NOT NULL DEFAULT 0,
    run_at timestamptz NOT NULL DEFAULT now(),
    arguments jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX ceiling_jobs_claim ON ceiling_jobs (priority, run_at, id);
CREATE TABLE ceiling_jobs_kept (
    id bigserial PRIMARY KEY,
    state text NOT NULL DEFAULT 'ready',
    priority integer NOT NULL DEFAULT 0,
    run_at timestamptz NOT NULL DEFAULT now(),
    arguments jsonb NOT NULL DEFAULT '[]',
    claimed_at timestamptz,
    finished_at timestamptz
);
CREATE INDEX ceiling_jobs_kept_ready ON ceiling_jobs_kept (priority, run_at, id) WHERE state = 'ready';
"""

INSERT = "INSERT INTO ceiling_jobs (arguments) VALUES ('[1]');\n"
CLAIM_ONE = (
    "DELETE FROM ceiling_jobs WHERE id = (SELECT id FROM ceiling_jobs ORDER BY priority, run_at, id "
    "FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id, arguments;\n"
)
CLAIM_HUNDRED = (
    "DELETE FROM ceiling_jobs WHERE id = ANY(ARRAY(SELECT id FROM ceiling_jobs ORDER BY priority, run_at, id "
    "FOR UPDATE SKIP LOCKED LIMIT 100)) RETURNING id, arguments;\n"
)
# Two transactions per job, as in a queue that keeps finished rows: claim, run the job, mark it finished.
CLAIM_THEN_FINISH = (
    "UPDATE ceiling_jobs_kept SET state = 'running', claimed_at = now() WHERE id = (SELECT id FROM "
    "ceiling_jobs_kept WHERE state = 'ready' ORDER BY priority, run_at, id FOR UPDATE SKIP LOCKED LIMIT 1) "
    "RETURNING id AS job_id \\gset\n"
    "UPDATE ceiling_jobs_kept SET state = 'finished', finished_at = now() WHERE id = :job_id;\n"
)


@dataclasses.dataclass(frozen=True)
class Case:
    title: str
    script: str
    clients: int
    #: Table to fill before each run, and its row count; None starts from an empty ceiling_jobs.
    table: str | None
    rows: int
    jobs_per_transaction: int


CASES = [
    Case("insert", INSERT, 1, None, 0, 1),
    Case("insert", INSERT, 4, None, 0, 1),
    Case("claim + delete, 1 row", CLAIM_ONE, 1, "ceiling_jobs", 500_000, 1),
    Case("claim + delete, 1 row", CLAIM_ONE, 2, "ceiling_jobs", 500_000, 1),
    Case("claim + delete, 1 row", CLAIM_ONE, 4, "ceiling_jobs", 500_000, 1),
    Case("claim + delete, 100 rows", CLAIM_HUNDRED, 2, "ceiling_jobs", 2_500_000, 100),
    Case("claim + delete, 100 rows", CLAIM_HUNDRED, 4, "ceiling_jobs", 2_500_000, 100),
    Case("claim UPDATE, then finish UPDATE", CLAIM_THEN_FINISH, 2, "ceiling_jobs_kept", 500_000, 1),
    Case("claim UPDATE, then finish UPDATE", CLAIM_THEN_FINISH, 4, "ceiling_jobs_kept", 500_000, 1),
]


class CeilingError(Exception):
    """psql or pgbench is missing or failed, or a claim case ran out of rows."""


def measure_ceiling(runs: int, seconds: int = 10) -> dict[str, Any]:
    """Run every case ``runs`` times; return {"cases": [...]} or {"error": ...} when it can't run."""
    try:
        _check_tools()
        _ensure_database()
        _psql(SCHEMA)
    except CeilingError as error:
        return {"error": str(error)}

    cases = []
    with tempfile.TemporaryDirectory(prefix="activejob-ceiling-") as directory:
        for case in CASES:
            script_path = Path(directory) / "script.sql"
            script_path.write_text(case.script)
            values, error = [], None
            for _ in range(runs):
                try:
                    values.append(_run_case(case, script_path, seconds))
                except CeilingError as failure:
                    error = str(failure)
                    break
            entry: dict[str, Any] = {"title": case.title, "clients": case.clients, "seconds": seconds,
                                     "jobs_per_transaction": case.jobs_per_transaction}
            if values:
                entry["jobs_per_second"] = {"runs": values, **spread(values)}
            if error:
                entry["error"] = error
            outcome = error or f"{entry['jobs_per_second']['median']:,.0f} jobs/s"
            print(f"  {case.title}, {case.clients} clients: {outcome}", file=sys.stderr, flush=True)
            cases.append(entry)
    _psql("DROP TABLE IF EXISTS ceiling_jobs, ceiling_jobs_kept;")
    return {"seconds": seconds, "pgbench": _pgbench_version(), "cases": cases}


def _run_case(case: Case, script_path: Path, seconds: int) -> float:
    """Fill the case's table, run pgbench for ``seconds``; return jobs per second."""
    _psql("TRUNCATE ceiling_jobs, ceiling_jobs_kept RESTART IDENTITY;")
    if case.table:
        _psql(f"INSERT INTO {case.table} (priority, run_at, arguments) "
              f"SELECT 0, now() + n * interval '1 microsecond', '[1]' "
              f"FROM generate_series(1, {case.rows}) n;")
    _psql("VACUUM ANALYZE ceiling_jobs, ceiling_jobs_kept;")

    command = ["pgbench", "--no-vacuum", "--protocol", "prepared", "--file", str(script_path),
               "--client", str(case.clients), "--jobs", str(min(case.clients, os.cpu_count() or 1)),
               "--time", str(seconds), *_connection_options(), servers.POSTGRES_DATABASE]
    completed = subprocess.run(command, capture_output=True, text=True)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", completed.stdout)
    if completed.returncode != 0 or not match:
        raise CeilingError(f"pgbench failed with status {completed.returncode}: "
                           f"{(completed.stderr or completed.stdout).strip()[-500:]}")

    if case.table:
        condition = " WHERE state = 'ready'" if case.table == "ceiling_jobs_kept" else ""
        left = int(_psql(f"SELECT count(*) FROM {case.table}{condition};", query=True))
        if left == 0:
            raise CeilingError(f"{case.title} with {case.clients} clients claimed all {case.rows:,} rows "
                               f"within {seconds} s: raise the case's row count.")
    return float(match.group(1)) * case.jobs_per_transaction


def _connection_options() -> list[str]:
    return ["--host", servers.POSTGRES_HOST, "--port", str(servers.POSTGRES_PORT),
            "--username", servers.POSTGRES_USER]


def _psql(statements: str, *, database: str = servers.POSTGRES_DATABASE, query: bool = False) -> str:
    command = ["psql", "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", *_connection_options(),
               "--dbname", database]
    if query:
        command += ["--tuples-only", "--no-align"]
    completed = subprocess.run(command, input=statements, capture_output=True, text=True)
    if completed.returncode != 0:
        raise CeilingError(
            f"psql on {servers.POSTGRES_HOST}:{servers.POSTGRES_PORT} (database {database}) failed: "
            f"{completed.stderr.strip()}; check that PostgreSQL runs and allows trust login for "
            f"{servers.POSTGRES_USER}."
        )
    return completed.stdout.strip()


def _ensure_database() -> None:
    exists = _psql(f"SELECT 1 FROM pg_database WHERE datname = '{servers.POSTGRES_DATABASE}';",
                   database="postgres", query=True)
    if not exists:
        _psql(f'CREATE DATABASE "{servers.POSTGRES_DATABASE}";', database="postgres")


def _check_tools() -> None:
    missing = [tool for tool in ("psql", "pgbench") if shutil.which(tool) is None]
    if missing:
        raise CeilingError(f"{' and '.join(missing)} not found on PATH: install postgresql-client "
                           f"(apt-get install postgresql-client).")


def _pgbench_version() -> str:
    return subprocess.run(["pgbench", "--version"], capture_output=True, text=True).stdout.strip()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python3 bench/peers/ceiling.py",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1, metavar="N", help="Runs of each case. Default: 1.")
    parser.add_argument("--seconds", type=int, default=10, metavar="S",
                        help="Duration of each pgbench run in seconds. Default: 10.")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.seconds < 1:
        parser.error("--runs and --seconds must be 1 or more.")

    from bench.peers import table

    result = measure_ceiling(args.runs, args.seconds)
    print(table.render_ceiling(result))
    if "error" in result:
        return 1
    return 1 if any("error" in case for case in result["cases"]) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
