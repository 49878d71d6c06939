"""django-tasks-db: Django 6's django.tasks with the database backend, on PostgreSQL."""

from __future__ import annotations

import os
from typing import Any

from bench.peers.adapters import base_environment, python
from bench.peers.adapters.postgres import PostgresAdapter

SETTINGS = "bench.peers.django_settings"


class DjangoTasksDbAdapter(PostgresAdapter):
    library = "django-tasks-db"
    workers = "2 x `db_worker` (one task at a time each, default --interval 1 s)"
    #: CONN_MAX_AGE for the enqueuing process and the workers: "0" is Django's default.
    conn_max_age = "0"

    def connect(self) -> None:
        self.connect_poll()
        os.environ["PEERS_CONN_MAX_AGE"] = self.conn_max_age
        os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS

        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", "django_tasks_database", verbosity=0)

        from django_tasks_db.models import DBTaskResult

        from bench.peers import django_tasks

        self.tasks: Any = django_tasks
        self.table = DBTaskResult._meta.db_table

    def reset(self) -> None:
        self.truncate([self.table])

    def enqueue(self, number: int) -> None:
        self.tasks.noop.enqueue(number)

    def enqueue_latency(self, index: int, enqueued_at: float) -> None:
        self.tasks.record_latency.enqueue(index, enqueued_at)

    def pending(self) -> int:
        return self.scalar(f"SELECT count(*) FROM {self.table} WHERE status IN ('READY', 'RUNNING')")

    def failed(self) -> int | None:
        return self.scalar(f"SELECT count(*) FROM {self.table} WHERE status = 'FAILED'")

    def worker_commands(self) -> list[list[str]]:
        command = [python(), "-m", "django", "db_worker", "--settings", SETTINGS]
        return [command, command]

    def worker_environment(self) -> dict[str, str]:
        return {**base_environment(), "PEERS_CONN_MAX_AGE": self.conn_max_age}


class PersistentDjangoTasksDbAdapter(DjangoTasksDbAdapter):
    variant = "CONN_MAX_AGE None"
    conn_max_age = "None"
