"""django-q2 with its ORM broker on PostgreSQL."""

from __future__ import annotations

import os
from typing import Any

from bench.peers.adapters import base_environment, python
from bench.peers.adapters.postgres import PostgresAdapter

SETTINGS = "bench.peers.django_settings"


class DjangoQ2Adapter(PostgresAdapter):
    library = "django-q2"
    store = "PostgreSQL (ORM broker)"
    workers = "`qcluster`, Q_CLUSTER workers 2, ORM broker (0.2 s poll)"
    conn_max_age = "0"

    def connect(self) -> None:
        self.connect_poll()
        os.environ["PEERS_CONN_MAX_AGE"] = self.conn_max_age
        os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS

        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", "django_q", verbosity=0)

        from django_q.models import OrmQ, Task
        from django_q.tasks import async_task

        self.async_task: Any = async_task
        self.queue_table = OrmQ._meta.db_table
        self.task_table = Task._meta.db_table

    def reset(self) -> None:
        self.truncate([self.queue_table, self.task_table])

    def enqueue(self, number: int) -> None:
        self.async_task("bench.peers.jobs.noop", number)

    def enqueue_latency(self, index: int, enqueued_at: float) -> None:
        self.async_task("bench.peers.jobs.record_latency", index, enqueued_at)

    def pending(self) -> int:
        # The ORM broker deletes a row when the cluster acknowledges its task, after the task ran.
        return self.scalar(f"SELECT count(*) FROM {self.queue_table}")

    def failed(self) -> int | None:
        return self.scalar(f"SELECT count(*) FROM {self.task_table} WHERE NOT success")

    def worker_commands(self) -> list[list[str]]:
        return [[python(), "-m", "django", "qcluster", "--settings", SETTINGS]]

    def worker_environment(self) -> dict[str, str]:
        return {**base_environment(), "PEERS_CONN_MAX_AGE": self.conn_max_age}


class PersistentDjangoQ2Adapter(DjangoQ2Adapter):
    variant = "CONN_MAX_AGE None"
    conn_max_age = "None"
