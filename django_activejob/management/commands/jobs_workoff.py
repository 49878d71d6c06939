"""``manage.py jobs_workoff``: perform every ready job, then exit."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError

from .jobs_worker import Command as WorkerCommand
from .jobs_worker import add_worker_arguments


class Command(WorkerCommand):
    help = (
        "Perform every job that is ready now, then exit: delayed_job's 'rake jobs:workoff'. "
        "Jobs scheduled for later stay queued. Exits with status 1 if any job failed."
    )

    def add_arguments(self, parser: Any) -> None:
        add_worker_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        options.update(action="run", exit_on_complete=True, processes=None, pool=None, config=None,
                       pid_dir=None, log_file=None, timeout=None)
        worker_options = self.worker_options(options)
        self.configure_logging(options["verbosity"])

        from ...worker import Worker
        from ...worker.heartbeat import WorkerConflictError

        worker = Worker(worker_options)
        try:
            status = worker.run()
        except WorkerConflictError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Performed {worker.performed} job(s); {worker.failed} failed.")
        if status or worker.failed:
            sys.exit(status or 1)
