"""Start a pgqueuer worker as ``pgq run bench.peers.adapters.pgqueuer:create_pgqueuer`` would.

pgqueuer 1.6.0's ``pgq run`` fails at start with typer 0.29.2: the
``--log-level`` option's parser returns a str, and setup_fancy_logger
expects a LogLevel member (AttributeError: 'str' object has no attribute
'name'). This module makes the same calls as the command, with its
default options: INFO logging, then pgqueuer.run() on uvloop.
"""

from __future__ import annotations

import uvloop
from pgqueuer import run
from pgqueuer.core import logconfig

FACTORY = "bench.peers.adapters.pgqueuer:create_pgqueuer"


def main() -> None:
    logconfig.setup_fancy_logger(logconfig.LogLevel.INFO)
    # pgqueuer.run's keyword defaults are the command's: dequeue timeout 30 s, batch size 10,
    # heartbeat timeout 30 s, continuous mode, no concurrency limit, no restart on failure.
    uvloop.run(run(FACTORY))


if __name__ == "__main__":
    main()
