"""The DelayedJob table: one row per job waiting, running or failed."""

from __future__ import annotations

import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class JobState(models.TextChoices):
    """A row's state, derived from its columns."""

    SCHEDULED = "scheduled", _("scheduled")
    READY = "ready", _("ready")
    RUNNING = "running", _("running")
    FAILED = "failed", _("failed")


class DelayedJobQuerySet(models.QuerySet):
    """Filters for each state. Each takes ``now`` so callers share one clock."""

    def failed(self) -> DelayedJobQuerySet:
        return self.filter(failed_at__isnull=False)

    def running(self) -> DelayedJobQuerySet:
        return self.filter(failed_at__isnull=True, locked_at__isnull=False)

    def scheduled(self, now: datetime.datetime | None = None) -> DelayedJobQuerySet:
        return self.filter(
            failed_at__isnull=True, locked_at__isnull=True, run_at__gt=now or timezone.now()
        )

    def ready(self, now: datetime.datetime | None = None) -> DelayedJobQuerySet:
        return self.filter(
            failed_at__isnull=True, locked_at__isnull=True, run_at__lte=now or timezone.now()
        )

    def in_state(self, state: str, now: datetime.datetime | None = None) -> DelayedJobQuerySet:
        if state == JobState.FAILED:
            return self.failed()
        if state == JobState.RUNNING:
            return self.running()
        if state == JobState.SCHEDULED:
            return self.scheduled(now)
        if state == JobState.READY:
            return self.ready(now)
        raise ValueError(f"Unknown job state {state!r}; use one of {list(JobState.values)}.")

    def in_queues(self, queues: list[str]) -> DelayedJobQuerySet:
        """Filter to exact queue names; rows stored with an empty or NULL queue count as "default"."""
        condition = Q(queue__in=queues)
        if "default" in queues:
            condition |= Q(queue="") | Q(queue__isnull=True)
        return self.filter(condition)


class DelayedJob(models.Model):
    """A job stored by the database adapter, with delayed_job's columns.

    ``handler`` contains the JSON payload that ``Job.serialize`` returns, in
    ASCII, so the column's character set never matters. ``job_id`` and
    ``job_class`` repeat two of its fields for lookups in the admin and SQL.
    """

    priority = models.IntegerField(_("priority"), default=0)
    attempts = models.IntegerField(_("attempts"), default=0)
    handler = models.TextField(_("handler"))
    # NULL rather than "" for "no error" and "not locked", as delayed_job stores them.
    last_error = models.TextField(_("last error"), null=True, blank=True)  # noqa: DJ001
    run_at = models.DateTimeField(_("run at"))
    locked_at = models.DateTimeField(_("locked at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed at"), null=True, blank=True)
    locked_by = models.CharField(_("locked by"), max_length=255, null=True, blank=True)  # noqa: DJ001
    queue = models.CharField(_("queue"), max_length=255, default="default")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    job_id = models.UUIDField(_("job ID"), db_index=True)
    job_class = models.CharField(_("job class"), max_length=255, db_index=True)
    # The job class's own limits, copied at enqueue, so a worker has them
    # before it loads the payload. NULL means the ACTIVEJOB setting.
    max_attempts = models.IntegerField(_("max attempts"), null=True, blank=True)
    max_run_time = models.FloatField(_("max run time (seconds)"), null=True, blank=True)
    # When the lock stops protecting the row: set at reserve to locked_at plus
    # max_run_time plus the time the worker takes to interrupt the job.
    lock_expires_at = models.DateTimeField(_("lock expires at"), null=True, blank=True)

    objects = DelayedJobQuerySet.as_manager()

    class Meta:
        verbose_name = _("delayed job")
        verbose_name_plural = _("delayed jobs")
        indexes = [
            # The reserve query filters on failed_at and run_at and sorts by
            # (priority, run_at, id); with a queue filter it starts from queue.
            models.Index(fields=["priority", "run_at", "id"], name="delayed_job_reserve"),
            models.Index(fields=["queue", "priority", "run_at"], name="delayed_job_queue_reserve"),
            # Finding the locks of dead workers reads only locked rows.
            models.Index(fields=["locked_at"], name="delayed_job_locked_at"),
        ]

    def __str__(self) -> str:
        return f"{self.job_class} ({self.job_id})"

    def save(self, *args, **kwargs) -> None:
        self.updated_at = timezone.now()
        if "update_fields" in kwargs and kwargs["update_fields"] is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "updated_at"}
        super().save(*args, **kwargs)

    def state(self, now: datetime.datetime | None = None) -> JobState:
        if self.failed_at is not None:
            return JobState.FAILED
        if self.locked_at is not None:
            return JobState.RUNNING
        if self.run_at > (now or timezone.now()):
            return JobState.SCHEDULED
        return JobState.READY

    @property
    def error_summary(self) -> str:
        """The first line of last_error, which names the exception."""
        if not self.last_error:
            return ""
        return self.last_error.split("\n", 1)[0]


class QueueDashboard(DelayedJob):
    """No table of its own: the entry that links the queue dashboard from the admin's app index."""

    class Meta:
        proxy = True
        verbose_name = _("queue dashboard")
        verbose_name_plural = _("queue dashboard")


class WorkerProcessQuerySet(models.QuerySet):
    """Filters on heartbeats; ``now`` is shared with the caller's clock."""

    def alive(self, now: datetime.datetime | None = None) -> WorkerProcessQuerySet:
        return self.filter(heartbeat_at__gte=_dead_before(now))

    def dead(self, now: datetime.datetime | None = None) -> WorkerProcessQuerySet:
        return self.filter(heartbeat_at__lt=_dead_before(now))


def _dead_before(now: datetime.datetime | None) -> datetime.datetime:
    from . import conf

    return (now or timezone.now()) - datetime.timedelta(seconds=conf.get("HEARTBEAT_TIMEOUT"))


class WorkerProcess(models.Model):
    """One running worker process, kept alive by its heartbeat.

    A worker inserts its row when it starts, refreshes ``heartbeat_at``
    every ``HEARTBEAT_INTERVAL`` seconds and deletes the row when it stops.
    A row whose heartbeat is older than ``HEARTBEAT_TIMEOUT`` belongs to a
    process that died; the jobs it had locked go back to ready.
    """

    identifier = models.CharField(_("identifier"), max_length=255, unique=True)
    hostname = models.CharField(_("host name"), max_length=255)
    pid = models.IntegerField(_("process ID"))
    # Comma-separated queue names, or "*" for every queue.
    queues = models.TextField(_("queues"))
    # The supervisor that forked this worker, if any ("host:pid").
    supervisor = models.CharField(_("supervisor"), max_length=255, blank=True, default="")
    started_at = models.DateTimeField(_("started at"))
    heartbeat_at = models.DateTimeField(_("last heartbeat"), db_index=True)

    objects = WorkerProcessQuerySet.as_manager()

    class Meta:
        verbose_name = _("worker process")
        verbose_name_plural = _("worker processes")
        ordering = ["identifier"]

    def __str__(self) -> str:
        return self.identifier

    def is_alive(self, now: datetime.datetime | None = None) -> bool:
        return self.heartbeat_at >= _dead_before(now)


class PausedQueue(models.Model):
    """A queue whose jobs workers don't start until it is resumed; its jobs stay queued."""

    queue = models.CharField(_("queue"), max_length=255, unique=True)
    paused_at = models.DateTimeField(_("paused at"), default=timezone.now)
    paused_by = models.CharField(_("paused by"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("paused queue")
        verbose_name_plural = _("paused queues")
        ordering = ["queue"]

    def __str__(self) -> str:
        return self.queue


class QueueStatQuerySet(models.QuerySet):
    def since(self, moment: datetime.datetime) -> QueueStatQuerySet:
        return self.filter(minute__gte=moment)


class QueueStat(models.Model):
    """Executions of one queue in one minute, counted by the workers: what the dashboard charts.

    Performed jobs leave no row behind, so these counters are the only
    record of throughput. Workers add to them in batches with each heartbeat.
    """

    queue = models.CharField(_("queue"), max_length=255)
    minute = models.DateTimeField(_("minute"))
    performed = models.IntegerField(_("performed"), default=0)
    failed = models.IntegerField(_("failed"), default=0)

    objects = QueueStatQuerySet.as_manager()

    class Meta:
        verbose_name = _("queue statistic")
        verbose_name_plural = _("queue statistics")
        constraints = [models.UniqueConstraint(fields=["queue", "minute"], name="queue_stat_minute")]
        indexes = [models.Index(fields=["minute"], name="queue_stat_minute_idx")]

    def __str__(self) -> str:
        return f"{self.queue} {self.minute:%Y-%m-%d %H:%M}"
