"""Every log line django_activejob writes, on the ``django_activejob`` logger.

Job lines come from receivers of the signals in ``django_activejob.signals``;
the worker calls the functions below for its own events. Levels: INFO for
enqueue, start, finish and worker start/stop; WARNING for a failure that
will be retried and for errors the worker recovers from; ERROR when a job is
given up for good.
"""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any

from django.dispatch import receiver

from . import conf, signals

if TYPE_CHECKING:
    from .job import Job

logger = logging.getLogger("django_activejob")
worker_logger = logging.getLogger("django_activejob.worker")

#: Logged arguments are cut to this many characters.
MAX_LOGGED_ARGUMENTS = 1000


def _describe(job: Job) -> str:
    return f"{type(job).__name__} (Job ID: {job.job_id})"


def _arguments(job: Job) -> str:
    """Return " with arguments: ..." for the log line, or "" when arguments are not logged."""
    enabled = type(job).log_arguments
    if enabled is None:
        enabled = conf.get("LOG_ARGUMENTS")
    if not enabled:
        return ""
    parts = [repr(value) for value in job.arguments]
    parts += [f"{name}={value!r}" for name, value in job.kwargs.items()]
    text = ", ".join(parts)
    if len(text) > MAX_LOGGED_ARGUMENTS:
        text = text[:MAX_LOGGED_ARGUMENTS] + "...[truncated]"
    return f" with arguments: {text}"


def _source(job: Job) -> str:
    return f"{job.adapter_name or job.adapter().name}({job.queue_name})"


@receiver(signals.job_enqueued, dispatch_uid="django_activejob.log.enqueued")
def log_enqueued(sender: type, job: Job, adapter: Any, **kwargs: Any) -> None:
    if not logger.isEnabledFor(logging.INFO):
        # The arguments' repr would cost more than a fast enqueue.
        return
    when = f" at {job.scheduled_at.isoformat()}" if job.scheduled_at else ""
    logger.info(
        "Enqueued %s to %s(%s)%s%s",
        _describe(job), adapter.name, job.queue_name, when, _arguments(job),
    )


@receiver(signals.job_started, dispatch_uid="django_activejob.log.started")
def log_started(sender: type, job: Job, **kwargs: Any) -> None:
    # DEBUG, not INFO: the "Performed" line follows, and a second line per job
    # at INFO cost a worker about a tenth of its throughput on short jobs.
    if not logger.isEnabledFor(logging.DEBUG):
        return
    logger.debug(
        "Performing %s from %s%s", _describe(job), _source(job), _arguments(job)
    )


@receiver(signals.job_performed, dispatch_uid="django_activejob.log.performed")
def log_performed(sender: type, job: Job, duration: float, **kwargs: Any) -> None:
    logger.info("Performed %s from %s in %.1f ms", _describe(job), _source(job), duration * 1000)


@receiver(signals.job_failed, dispatch_uid="django_activejob.log.failed")
def log_failed(sender: type, job: Job, exception: BaseException, duration: float, **kwargs: Any) -> None:
    logger.warning(
        "Error performing %s from %s in %.1f ms: %s: %s",
        _describe(job), _source(job), duration * 1000,
        type(exception).__name__, _first_line(exception),
    )


@receiver(signals.job_halted, dispatch_uid="django_activejob.log.halted")
def log_halted(sender: type, job: Job, event: str, **kwargs: Any) -> None:
    if event == "enqueue":
        logger.info(
            "Failed enqueuing %s: a before_enqueue or around_enqueue callback halted it", _describe(job)
        )
    else:
        logger.info("Halted %s: a before_perform or around_perform callback stopped it", _describe(job))


@receiver(signals.job_retry_scheduled, dispatch_uid="django_activejob.log.retry_scheduled")
def log_retry_scheduled(sender: type, job: Job, exception: BaseException, wait: datetime.timedelta,
                        **kwargs: Any) -> None:
    logger.warning(
        "Retrying %s after %d execution(s) in %.3g seconds, due to a %s (%s)",
        _describe(job), job.executions, wait.total_seconds(),
        type(exception).__name__, _first_line(exception),
    )


@receiver(signals.job_retry_stopped, dispatch_uid="django_activejob.log.retry_stopped")
def log_retry_stopped(sender: type, job: Job, exception: BaseException, **kwargs: Any) -> None:
    logger.error(
        "Stopped retrying %s after %d execution(s), due to a %s (%s)",
        _describe(job), job.executions, type(exception).__name__, _first_line(exception),
    )


@receiver(signals.job_discarded, dispatch_uid="django_activejob.log.discarded")
def log_discarded(sender: type, job: Job, exception: BaseException, **kwargs: Any) -> None:
    logger.warning(
        "Discarded %s due to a %s (%s)", _describe(job), type(exception).__name__, _first_line(exception)
    )


@receiver(signals.jobs_enqueued_all, dispatch_uid="django_activejob.log.enqueued_all")
def log_enqueued_all(sender: type, jobs: list[Job], adapter: Any, **kwargs: Any) -> None:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[type(job).__name__] = counts.get(type(job).__name__, 0) + 1
    logger.info(
        "Enqueued %d job(s) to %s (%s)",
        len(jobs), adapter.name, ", ".join(f"{count} {name}" for name, count in counts.items()),
    )


def _first_line(exception: BaseException) -> str:
    text = str(exception).split("\n", 1)[0]
    return text if len(text) <= 500 else text[:500] + "...[truncated]"


# The worker's own events.


def worker_started(
    identifier: str, queues: list[str] | None, database: str, vendor: str, **options: Any
) -> None:
    worker_logger.info(
        "Starting worker identifier=%s queues=%s database=%s(%s) %s",
        identifier, ",".join(queues) if queues else "*", database, vendor,
        " ".join(f"{name}={value}" for name, value in options.items()),
    )


def worker_stopping(identifier: str, signal_name: str, shutdown_timeout: float) -> None:
    worker_logger.info(
        "Worker %s received %s; finishing the running job (for up to %g s), then exiting. "
        "Send it again to stop at once.",
        identifier, signal_name, shutdown_timeout,
    )


def worker_forced_stop(identifier: str, signal_name: str) -> None:
    worker_logger.warning("Worker %s received %s again; stopping at once.", identifier, signal_name)


def worker_stopped(identifier: str, performed: int, failed: int) -> None:
    worker_logger.info(
        "Stopped worker identifier=%s performed=%d failed=%d", identifier, performed, failed
    )


def worker_no_jobs(identifier: str) -> None:
    worker_logger.info("Worker %s found no ready jobs; exiting, as it was asked to.", identifier)


def reserve_failed(identifier: str, error: BaseException, retry_in: float) -> None:
    worker_logger.warning(
        "Worker %s could not reserve jobs: %s: %s; retrying in %.1f s",
        identifier, type(error).__name__, _first_line(error), retry_in,
    )


def released(identifier: str, count: int) -> None:
    worker_logger.info("Worker %s released %d reserved job(s) it had not started.", identifier, count)


def job_unloadable(row_id: int, job_id: Any, error: BaseException) -> None:
    worker_logger.warning(
        "Could not load job row id=%s job_id=%s: %s: %s", row_id, job_id, type(error).__name__, error
    )


def job_rescheduled(row_id: int, job_id: Any, job_class: str, attempts: int, max_attempts: int,
                    run_at: datetime.datetime) -> None:
    worker_logger.warning(
        "Rescheduled %s (Job ID: %s, row id=%s) after attempt %d of %d; next run at %s",
        job_class, job_id, row_id, attempts, max_attempts, run_at.isoformat(),
    )


def job_given_up(row_id: int, job_id: Any, job_class: str, attempts: int, destroyed: bool,
                 reason: str) -> None:
    worker_logger.error(
        "Gave up on %s (Job ID: %s, row id=%s) after %d attempt(s): %s; the row was %s",
        job_class, job_id, row_id, attempts, reason, "deleted" if destroyed else "marked failed",
    )


def lock_lost(row_id: int, job_id: Any, identifier: str, action: str) -> None:
    worker_logger.warning(
        "Worker %s no longer owns the lock on row id=%s job_id=%s; did not %s it",
        identifier, row_id, job_id, action,
    )


def outcome_write_failed(row_id: int, job_id: Any, error: BaseException) -> None:
    worker_logger.exception(
        "Could not record the outcome of row id=%s job_id=%s: %s", row_id, job_id, error
    )


def job_timed_out(row_id: int, job_id: Any, job_class: str, reason: str) -> None:
    worker_logger.warning("Interrupted %s (Job ID: %s, row id=%s): %s", job_class, job_id, row_id, reason)


def job_would_not_stop(row_id: int, job_id: Any, job_class: str, reason: str, grace: float) -> None:
    worker_logger.error(
        "%s (Job ID: %s, row id=%s) was interrupted because %s, and was still running %g s later; "
        "recording the attempt and ending the worker process",
        job_class, job_id, row_id, reason, grace,
    )


def worker_exiting_hung(identifier: str, status: int) -> None:
    worker_logger.error("Worker %s exits with status %d, because a job would not stop", identifier, status)


def own_locks_released(identifier: str, count: int) -> None:
    worker_logger.warning(
        "Worker %s released %d job(s) that an earlier process with the same identifier had locked",
        identifier, count,
    )


def lost_job_released(row_id: int, job_id: Any, job_class: str, lost_worker: str | None, attempts: int,
                      max_attempts: int, failed: bool, recovered_by: str) -> None:
    level = logging.ERROR if failed else logging.WARNING
    worker_logger.log(
        level,
        "%s (Job ID: %s, row id=%s) was locked by lost worker %s; attempt %d of %d counted, %s (by %s)",
        job_class, job_id, row_id, lost_worker, attempts, max_attempts,
        "marked failed" if failed else "ready again", recovered_by,
    )


def lost_jobs_recovered(identifier: str, count: int) -> None:
    worker_logger.warning("Worker %s released %d job(s) locked by dead workers", identifier, count)


def heartbeat_failed(identifier: str, error: BaseException) -> None:
    worker_logger.warning(
        "Worker %s could not write its heartbeat: %s: %s; trying again at the next beat",
        identifier, type(error).__name__, _first_line(error),
    )


def worker_row_missing(identifier: str) -> None:
    worker_logger.warning(
        "Worker %s found its worker process row gone (another worker may have counted it as dead "
        "and released its jobs); registering again",
        identifier,
    )


def listening(identifier: str, channel: str) -> None:
    worker_logger.info("Worker %s listens for NOTIFY on channel %s", identifier, channel)


def listen_failed(identifier: str, error: BaseException, retry_in: float) -> None:
    worker_logger.warning(
        "Worker %s lost its LISTEN connection: %s: %s; polling, and listening again in %g s",
        identifier, type(error).__name__, _first_line(error), retry_in,
    )


def listen_unavailable(identifier: str, reason: str) -> None:
    worker_logger.info("Worker %s does not use LISTEN/NOTIFY: %s", identifier, reason)


def sqlite_journal_mode(identifier: str, mode: str) -> None:
    worker_logger.info("Worker %s switched the SQLite database to journal_mode=%s", identifier, mode)


def sqlite_wal_failed(identifier: str, error: BaseException) -> None:
    worker_logger.warning(
        "Worker %s could not switch the SQLite database to WAL: %s: %s",
        identifier, type(error).__name__, error,
    )


def heartbeat_lost(identifier: str, silent: float, running: bool) -> None:
    worker_logger.error(
        "Worker %s has not written a heartbeat for %.0f s; other workers may count it as dead%s",
        identifier, silent, " and release its job, so the running job is interrupted" if running else "",
    )


def dead_workers_pruned(identifier: str, count: int) -> None:
    worker_logger.info(
        "Worker %s deleted %d worker process row(s) dead for more than a day", identifier, count
    )


def worker_exiting_stuck(identifier: str, waited: float) -> None:
    worker_logger.error(
        "Worker %s was still running %g s after a forced stop; ending the process", identifier, waited
    )


def reconnecting(identifier: str, error: BaseException) -> None:
    worker_logger.info(
        "Worker %s lost its database connection (%s: %s); reconnecting",
        identifier, type(error).__name__, _first_line(error),
    )


def queue_paused(queue: str, paused_by: str) -> None:
    logger.info("Paused queue %s%s; workers skip its jobs until it is resumed", queue,
                f" (by {paused_by})" if paused_by else "")


def queue_resumed(queue: str, resumed_by: str) -> None:
    logger.info("Resumed queue %s%s", queue, f" (by {resumed_by})" if resumed_by else "")


def admin_action(username: str, action: str, changed: int, skipped: int) -> None:
    logger.info("Admin user %s: %s changed %d job(s), skipped %d held by workers", username, action, changed,
                skipped)


# The supervisor's events.


def supervisor_started(name: str, workers: list[str]) -> None:
    worker_logger.info("Starting supervisor %s with %d worker(s): %s", name, len(workers), ", ".join(workers))


def supervised_worker_started(identifier: str, pid: int, queues: list[str] | None) -> None:
    worker_logger.info(
        "Started worker %s pid=%d queues=%s", identifier, pid, ",".join(queues) if queues else "*"
    )


def supervised_worker_died(identifier: str, pid: int, reason: str, restart_in: float) -> None:
    worker_logger.error(
        "Worker %s pid=%d died (%s); restarting it in %g s", identifier, pid, reason, restart_in
    )


def supervised_worker_exited(identifier: str, pid: int, reason: str) -> None:
    worker_logger.info("Worker %s pid=%d exited (%s)", identifier, pid, reason)


def supervised_worker_silent(identifier: str, pid: int, silent: float) -> None:
    worker_logger.error(
        "Worker %s pid=%d sent no liveness ping for %.0f s (a job may hold the GIL in a long C call); "
        "sending SIGKILL before other workers count it as dead",
        identifier, pid, silent,
    )


def supervised_worker_killed(identifier: str, pid: int) -> None:
    worker_logger.error("Worker %s pid=%d did not stop in time; sending SIGKILL", identifier, pid)


def supervisor_stopping(name: str, signal_name: str, timeout: float) -> None:
    worker_logger.info(
        "Supervisor %s received %s; stopping its workers (waiting up to %g s). "
        "Send it again to stop at once.",
        name, signal_name, timeout,
    )


def supervisor_forced_stop(name: str, signal_name: str) -> None:
    worker_logger.warning(
        "Supervisor %s received %s again; telling its workers to stop at once", name, signal_name
    )


def supervisor_stopped(name: str) -> None:
    worker_logger.info("Stopped supervisor %s", name)


def supervisor_gone(identifier: str) -> None:
    worker_logger.warning("Worker %s lost its supervisor; stopping after the running job", identifier)


# The async adapter's own events.

#: Jobs named in one async adapter log line; the rest are only counted.
MAX_LISTED_JOBS = 20


def _list_jobs(jobs: list[str]) -> str:
    listed = ", ".join(jobs[:MAX_LISTED_JOBS])
    if len(jobs) > MAX_LISTED_JOBS:
        listed += f" and {len(jobs) - MAX_LISTED_JOBS} more"
    return listed


def async_started(max_threads: int) -> None:
    logger.info("Started the async adapter with up to %d thread(s)", max_threads)


def async_job_failed(job: str, error: BaseException) -> None:
    logger.error(
        "Gave up on %s on the async adapter, which does not retry unhandled exceptions: %s: %s",
        job, type(error).__name__, _first_line(error), exc_info=error,
    )


def async_connections_not_closed(job: str, error: BaseException) -> None:
    logger.warning(
        "Could not close the database connections of the async adapter thread after %s: %s: %s",
        job, type(error).__name__, error,
    )


def async_stopping(dropped_queued: list[str], dropped_scheduled: list[str], running: int) -> None:
    if not dropped_queued and not dropped_scheduled:
        logger.info("Stopping the async adapter: no queued or scheduled jobs; %d job(s) running", running)
        return
    logger.warning(
        "Stopping the async adapter: dropped %d queued and %d scheduled job(s), which will not run: "
        "%s; %d job(s) running",
        len(dropped_queued), len(dropped_scheduled), _list_jobs(dropped_queued + dropped_scheduled), running,
    )


def async_stopped(still_running: list[str]) -> None:
    if not still_running:
        logger.info("Stopped the async adapter")
        return
    logger.warning(
        "Stopped the async adapter with %d job(s) still running: %s. Python can't stop a thread, "
        "so the process waits for them to return before it exits; interrupt it (Ctrl+C) to exit at once.",
        len(still_running), _list_jobs(still_running),
    )


def async_interrupted(running: list[str]) -> None:
    logger.warning(
        "Interrupted while waiting for %d async job(s) to finish: %s. They run until they return or the "
        "process ends.",
        len(running), _list_jobs(running),
    )


def async_exit_failed(error: BaseException) -> None:
    logger.error(
        "Could not stop the async adapter at interpreter exit: %s: %s", type(error).__name__, error,
        exc_info=error,
    )


# Management commands' own events.


def jobs_cleared(
    database: str, deleted: int, states: list[str], queues: list[str] | None, job_classes: list[str] | None
) -> None:
    logger.info(
        "Cleared %d job(s) with jobs_clear database=%s states=%s queues=%s job_classes=%s",
        deleted, database, ",".join(states), ",".join(queues) if queues else "*",
        ",".join(job_classes) if job_classes else "*",
    )


# The jobs_worker daemon's own events: start, stop and its pid file.

daemon_logger = logging.getLogger("django_activejob.daemon")


def daemon_started(pid: int, pid_file: Any, log_file: Any) -> None:
    daemon_logger.info(
        "Started the jobs_worker daemon pid=%d pid_file=%s log_file=%s", pid, pid_file, log_file
    )


def daemon_exiting(pid: int, status: int) -> None:
    daemon_logger.info("The jobs_worker daemon pid=%d is exiting with status %d", pid, status)


def daemon_run_failed(pid: int, error: BaseException) -> None:
    daemon_logger.error(
        "The jobs_worker daemon pid=%d stopped on an unhandled %s: %s; the traceback is in its log file",
        pid, type(error).__name__, _first_line(error),
    )


def daemon_stop_sent(pid: int, signal_name: str, pid_file: Any) -> None:
    daemon_logger.info("Sent %s to the jobs_worker daemon pid=%d pid_file=%s", signal_name, pid, pid_file)


def daemon_stopped(pid: int, waited: float) -> None:
    daemon_logger.info("The jobs_worker daemon pid=%d stopped after %.1f s", pid, waited)


def daemon_stop_timed_out(pid: int, signal_name: str, waited: float) -> None:
    daemon_logger.warning(
        "The jobs_worker daemon pid=%d is still running %.1f s after %s", pid, waited, signal_name
    )


def stale_pid_file_removed(path: Any, content: str) -> None:
    daemon_logger.warning(
        "Removed the stale pid file %s, which contained %r: no running jobs_worker has that pid",
        path, content,
    )


def pid_file_not_removed(path: Any, content: str, pid: int) -> None:
    daemon_logger.warning(
        "Left the pid file %s in place: it contains %r, not pid %d", path, content, pid
    )


# The queue dashboard's events. Pausing and resuming log through queue_paused and queue_resumed.


def queue_action_rejected(username: str, action: str, queue: str, errors: str) -> None:
    # %.200r cuts the quoted name, because the form accepts any text.
    logger.warning(
        "Rejected the dashboard request of user %s to %s queue %.200r: %s", username, action, queue, errors
    )
