"""Run one peer's workloads once, inside the peers' virtualenv, and write the figures as JSON.

    python -m bench.peers.session --peer rq --workloads w1,w2 --jobs 10000 --directory DIR --output FILE

bench/peers/runner.py starts this module once per peer and run. The output
file gets the peer's label, store and worker description, and per workload
either its figures or an "error". A server that is down makes a top-level
"error" and skips every workload. Standard output gets one line per
workload; the libraries' own logging goes to standard error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from bench.peers import PEERS, WORKLOADS
from bench.peers.adapters import Adapter
from bench.peers.servers import ServerError
from bench.peers.workers import WorkerError
from bench.peers.workloads import (
    WorkloadError,
    fill_queue,
    measure_bulk_enqueue,
    measure_drain,
    measure_enqueue,
    measure_latency,
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.session")
    parser.add_argument("--peer", required=True, choices=list(PEERS))
    parser.add_argument("--workloads", required=True)
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--directory", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    workloads = [name for name in args.workloads.split(",") if name]
    for name in workloads:
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}: use one of {', '.join(WORKLOADS)}.")

    # SIGTERM from the runner (or from PDEATHSIG) unwinds like an error, so the workers get stopped.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    adapter = load_adapter(args.peer)
    result: dict[str, Any] = {"peer": args.peer, "label": adapter.label, "store": adapter.store,
                              "workers": adapter.workers, "has_bulk": adapter.has_bulk, "workloads": {}}
    try:
        adapter.connect()
    except ServerError as error:
        result["error"] = str(error)
    else:
        try:
            result["workloads"] = run_workloads(adapter, args.peer, workloads, args.jobs, args.directory)
        finally:
            adapter.reset()
            adapter.close()
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def load_adapter(peer: str) -> Adapter:
    module_name, _, class_name = PEERS[peer].partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def run_workloads(adapter: Adapter, peer: str, workloads: list[str], jobs: int,
                  directory: Path) -> dict[str, Any]:
    """Run the workloads in the order w1, w2, w1b, w3; w2 drains the jobs that w1 enqueued."""
    results: dict[str, Any] = {}
    enqueued = False
    for name in [name for name in WORKLOADS if name in workloads]:
        log_prefix = directory / f"{peer}.{name}"
        try:
            if name == "w1":
                results[name] = measure_enqueue(adapter, jobs)
                enqueued = True
            elif name == "w2":
                if not enqueued:
                    fill_queue(adapter, jobs)
                results[name] = measure_drain(adapter, jobs, log_prefix)
                enqueued = False
            elif name == "w1b":
                if not adapter.has_bulk:
                    continue
                results[name] = measure_bulk_enqueue(adapter, jobs)
                enqueued = False
            elif name == "w3":
                results[name] = measure_latency(adapter, log_prefix)
        except (WorkloadError, WorkerError, ServerError) as error:
            results[name] = {"error": str(error)}
        except Exception as error:
            results[name] = {"error": f"{type(error).__name__}: {error}",
                             "traceback": traceback.format_exc()}
        print(f"  {peer} {name}: {summarize(results.get(name))}", flush=True)
    return results


def summarize(figures: dict[str, Any] | None) -> str:
    if figures is None:
        return "no bulk API"
    if "error" in figures:
        return "failed: " + figures["error"].splitlines()[0]
    if "p50_ms" in figures:
        text = f"p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms"
        return text + (f" (warning: {figures['warning']})" if "warning" in figures else "")
    text = f"{figures['jobs_per_second']:,.0f} jobs/s"
    if figures.get("steady_jobs_per_second"):
        text += f", steady {figures['steady_jobs_per_second']:,.0f} jobs/s"
    if "warning" in figures:
        text += f" (warning: {figures['warning']})"
    return text


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
