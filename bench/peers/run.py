#!/usr/bin/env python3
"""Run other Python job queues through the same workloads, print a table and write JSON.

    python3 bench/peers/run.py                                 # every peer and workload, 3 runs, the ceiling
    python3 bench/peers/run.py --peers rq,huey --workloads w1,w3 --runs 1 --jobs 1000

The peers run in .venv-peers/ (Python 3.12 or newer, built from
bench/peers/requirements.txt on first use), each run in its own child
process. See bench/peers/README.md for the workloads and worker commands.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[2]
# The repository root in place of bench/peers/, so "bench" imports as the checkout's package.
sys.path[0] = str(ROOT)

from bench.peers import PEERS, WORKLOADS, render, run_peers  # noqa: E402
from bench.peers.environment import SetupError  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"


def main(argv: list[str]) -> int:
    args = parse_arguments(argv)
    # SIGTERM unwinds like an error, so the running session gets SIGTERM and stops its workers.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    directory = Path(tempfile.mkdtemp(prefix="activejob-peers-"))
    try:
        results = run_peers(args.peers, args.workloads, args.runs, args.jobs, directory, args.ceiling,
                            python=args.python)
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BaseException:
        print(f"Stopped early; the worker logs and samples are in {directory}", file=sys.stderr)
        raise
    results = {"command": " ".join(["python3 bench/peers/run.py", *argv]),
               "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), **results}

    output = args.output or RESULTS_DIR / f"{datetime.datetime.now(datetime.UTC):%Y-%m-%dT%H%M%SZ}-peers.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(render(results))
    print(f"\nWrote {output}")

    failed = any("error" in row or row["errors"] for row in results["peers"])
    ceiling = results.get("ceiling") or {}
    failed |= "error" in ceiling or any("error" in case for case in ceiling.get("cases", []))
    if failed:
        print(f"Some runs failed; the worker logs and samples are in {directory}", file=sys.stderr)
        return 1
    shutil.rmtree(directory, ignore_errors=True)
    return 0


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 bench/peers/run.py", description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--peers", default=",".join(PEERS), metavar="A,B",
                        help=f"Comma-separated peers: {', '.join(PEERS)}. Default: all.")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), metavar="A,B",
                        help=f"Comma-separated workloads: {', '.join(WORKLOADS)}. Default: all.")
    parser.add_argument("--runs", type=int, default=3, metavar="N",
                        help="Runs of each peer and ceiling case; the table shows median (min-max). "
                             "Default: 3.")
    parser.add_argument("--jobs", type=int, default=10_000, metavar="N",
                        help="Jobs for W1, bulk and W2 (W3 always uses 200). Default: 10000.")
    parser.add_argument("--ceiling", action=argparse.BooleanOptionalAction, default=True,
                        help="Measure PostgreSQL's own ceiling with pgbench (10 s per case). Default: on.")
    parser.add_argument("--python", default=None, metavar="PATH",
                        help="Python 3.12+ for the peers' virtualenv. Default: $PEERS_PYTHON, "
                             "else python3.13/python3.12 on PATH, else pyenv's versions.")
    parser.add_argument("--output", type=Path, default=None, metavar="FILE",
                        help="The JSON results file. Default: bench/results/<UTC date>-peers.json.")
    args = parser.parse_args(argv)

    args.peers = _parse_names(parser, "--peers", args.peers, list(PEERS))
    args.workloads = _parse_names(parser, "--workloads", args.workloads, list(WORKLOADS))
    if args.runs < 1:
        parser.error(f"--runs {args.runs} is invalid: pass 1 or more.")
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs} is invalid: pass 1 or more.")
    return args


def _parse_names(parser: argparse.ArgumentParser, option: str, text: str, valid: list[str]) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        parser.error(f"{option} {text!r} names nothing: use some of {', '.join(valid)}.")
    for name in names:
        if name not in valid:
            parser.error(f"{option}: unknown name {name!r}; use {', '.join(valid)}.")
    return list(dict.fromkeys(names))


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
