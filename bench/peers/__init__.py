"""The peer side of the benchmark: other Python job queues on the same host and servers.

bench/run.py imports this package before Django exists, so it imports only
the standard library. The peers themselves run in their own virtualenv
(.venv-peers/, Python 3.12 or newer); see bench/peers/README.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Peer name -> "module:class" of its adapter, in the order of the table.
PEERS = {
    "django_tasks_db": "bench.peers.adapters.django_tasks_db:DjangoTasksDbAdapter",
    "django_tasks_db_persistent": "bench.peers.adapters.django_tasks_db:PersistentDjangoTasksDbAdapter",
    "procrastinate": "bench.peers.adapters.procrastinate:ProcrastinateAdapter",
    "pgqueuer": "bench.peers.adapters.pgqueuer:PgqueuerAdapter",
    "django_q2": "bench.peers.adapters.django_q2:DjangoQ2Adapter",
    "django_q2_persistent": "bench.peers.adapters.django_q2:PersistentDjangoQ2Adapter",
    "celery": "bench.peers.adapters.celery:CeleryAdapter",
    "rq": "bench.peers.adapters.rq:RqAdapter",
    "huey": "bench.peers.adapters.huey:HueyAdapter",
}

#: Workload name -> description; bench/peers/workloads.py measures them.
WORKLOADS = {
    "w1": "enqueue one job at a time, no worker running",
    "w2": "drain the queued jobs with the library's standard workers",
    "w1b": "enqueue all jobs with the library's bulk API",
    "w3": "pickup latency of idle workers, 200 jobs 20 ms apart",
}


def run_peers(peers: list[str], workloads: list[str], runs: int, jobs: int, directory: Path,
              ceiling: bool, *, python: str | None = None) -> dict[str, Any]:
    """Build the peers' virtualenv, run each peer ``runs`` times and the ceiling; return the results.

    Each figure in the result is {"runs": [...], "median", "min", "max"}.
    Worker logs and latency samples go to ``directory``. ``python`` is the
    interpreter for the virtualenv; see bench.peers.environment.find_python.
    """
    from bench.peers import runner

    return runner.run_peers(peers, workloads, runs, jobs, directory, ceiling, python=python)


def render(results: dict[str, Any]) -> str:
    """Return the Markdown tables of a run_peers() result."""
    from bench.peers import table

    return table.render(results)
