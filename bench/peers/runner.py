"""Run the peers in child processes inside their virtualenv, then the ceiling; collect the figures."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.peers import ceiling as ceiling_module
from bench.peers import environment
from bench.peers.workers import log_tail
from bench.stats import spread
from bench.workers import stop_with_parent

ROOT = Path(__file__).resolve().parents[2]

#: Seconds a session gets to stop its workers after SIGTERM before it gets SIGKILL.
SESSION_STOP_TIMEOUT = 60.0

#: Figure name -> (workload, key in that workload's results).
FIGURES = {
    "w1_jobs_per_second": ("w1", "jobs_per_second"),
    "w1b_jobs_per_second": ("w1b", "jobs_per_second"),
    "w2_jobs_per_second": ("w2", "jobs_per_second"),
    "w2_steady_jobs_per_second": ("w2", "steady_jobs_per_second"),
    "w2_startup_seconds": ("w2", "startup_seconds"),
    "w3_p50_ms": ("w3", "p50_ms"),
    "w3_p95_ms": ("w3", "p95_ms"),
    "w3_max_ms": ("w3", "max_ms"),
}


def run_peers(peers: list[str], workloads: list[str], runs: int, jobs: int, directory: Path,
              ceiling: bool, *, python: str | None = None) -> dict[str, Any]:
    """Run every peer ``runs`` times, each run in a session process, then the ceiling.

    See bench.peers.run_peers for the arguments.
    """
    venv_python = environment.ensure_virtualenv(environment.find_python(python))
    directory.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "jobs": jobs,
        "runs": runs,
        "workloads": workloads,
        "machine": {
            "cpu_count": os.cpu_count(),
            "kernel": platform.release(),
            "load_average_start": os.getloadavg(),
        },
        "python": _python_version(venv_python),
        "peers": [],
        "ceiling": None,
    }

    for peer in peers:
        sessions = []
        for number in range(runs):
            print(f"{peer}: run {number + 1} of {runs}", file=sys.stderr, flush=True)
            session = run_session(venv_python, peer, workloads, jobs, directory / f"run{number + 1}")
            sessions.append(session)
            if "error" in session:
                print(f"  {peer}: {session['error']}", file=sys.stderr, flush=True)
                break  # A server that is down stays down for the next runs.
        results["peers"].append(summarize_peer(peer, sessions, workloads))

    if ceiling:
        print(f"ceiling: pgbench, {runs} run(s) of each statement", file=sys.stderr, flush=True)
        results["ceiling"] = ceiling_module.measure_ceiling(runs)
    results["machine"]["load_average_end"] = os.getloadavg()
    return results


def run_session(venv_python: Path, peer: str, workloads: list[str], jobs: int,
                directory: Path) -> dict[str, Any]:
    """Run bench.peers.session for one peer and run; return its output or an error."""
    directory.mkdir(parents=True, exist_ok=True)
    output = directory / f"{peer}.json"
    output.unlink(missing_ok=True)
    command = [str(venv_python), "-m", "bench.peers.session", "--peer", peer,
               "--workloads", ",".join(workloads), "--jobs", str(jobs),
               "--directory", str(directory), "--output", str(output)]
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    # The libraries log to standard error, django-q2 a line per enqueue, so that goes to a file.
    log_path = directory / f"{peer}.session.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": python_path},
                                   stderr=log_file, preexec_fn=stop_with_parent)
    try:
        status = process.wait()
    except KeyboardInterrupt:
        # Ctrl+C reached the session through the terminal too: let it stop its workers first.
        _stop_session(process, grace=SESSION_STOP_TIMEOUT)
        raise
    except BaseException:
        _stop_session(process, grace=0.0)
        raise
    if status != 0 or not output.exists():
        return {"peer": peer, "error": f"The session exited with status {status}.\n{log_tail(log_path)}"}
    return json.loads(output.read_text())


def summarize_peer(peer: str, sessions: list[dict[str, Any]], workloads: list[str]) -> dict[str, Any]:
    """Combine one peer's runs into the spread of each figure, and list the failed workloads."""
    described = next((session for session in sessions if "label" in session), {})
    row: dict[str, Any] = {
        "peer": peer,
        "label": described.get("label", peer),
        "store": described.get("store", ""),
        "workers": described.get("workers", ""),
        "has_bulk": described.get("has_bulk"),
        "figures": {},
        "errors": [],
        "warnings": [],
        "sessions": sessions,
    }
    for number, session in enumerate(sessions, start=1):
        if "error" in session:
            row["error"] = session["error"]
        for name, figures in session.get("workloads", {}).items():
            if "error" in figures:
                row["errors"].append({"run": number, "workload": name, "error": figures["error"]})
            if "warning" in figures:
                row["warnings"].append({"run": number, "workload": name, "warning": figures["warning"]})

    for figure, (workload, key) in FIGURES.items():
        if workload not in workloads:
            continue
        values = [session["workloads"][workload][key] for session in sessions
                  if session.get("workloads", {}).get(workload, {}).get(key) is not None]
        if values:
            row["figures"][figure] = {"runs": values, **spread(values)}
    return row


def _stop_session(process: subprocess.Popen[bytes], *, grace: float) -> None:
    """Wait ``grace`` seconds for the session to exit, then send SIGTERM, then SIGKILL after the timeout."""
    for number in (None, signal.SIGTERM, signal.SIGKILL):
        if number is not None and process.poll() is None:
            os.kill(process.pid, number)
        try:
            process.wait(timeout=grace if number is None else SESSION_STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            continue


def _python_version(python: Path) -> str:
    completed = subprocess.run([str(python), "--version"], capture_output=True, text=True)
    return completed.stdout.strip()
