"""Fixture jobs for the production worker tests: time limits, crashes and interval records."""

import os
import signal
import time

from django.utils import timezone

from django_activejob import Job
from django_activejob.callbacks import around_perform

from .models import Performance


class ShortLimitJob(Job):
    """A job class with its own max_run_time, shorter than the setting."""

    max_run_time = 2

    def perform(self, seconds=0):
        time.sleep(seconds)


class IntervalJob(Job):
    """Record when and where each execution started and finished, to check that none overlap."""

    def perform(self, label, seconds=0.0):
        record = Performance.objects.create(
            label=label, job_id=self.job_id, pid=os.getpid(), started_at=timezone.now()
        )
        time.sleep(seconds)
        record.finished_at = timezone.now()
        record.save(update_fields=["finished_at"])


class SwallowingJob(Job):
    """Catch every exception, BaseExceptions included, and keep sleeping: the worst case for a timeout."""

    max_run_time = 1

    def perform(self, label, seconds):
        Performance.objects.create(label=label, job_id=self.job_id, pid=os.getpid(), started_at=timezone.now())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                time.sleep(0.05)
            except BaseException:
                pass


class CatchOnceJob(Job):
    """Catch the first interrupt and go on sleeping; the repeated interrupt stops it."""

    max_run_time = 1

    def perform(self, label, seconds):
        Performance.objects.create(label=label, job_id=self.job_id, pid=os.getpid(), started_at=timezone.now())
        try:
            time.sleep(seconds)
        except BaseException:
            Performance.objects.create(label=f"{label}:caught", pid=os.getpid())
        time.sleep(seconds)


class SlowCleanupJob(Job):
    """Case C03: runs past max_run_time, and its around_perform cleanup takes 3 more seconds."""

    max_run_time = 2

    @around_perform
    def clean_up_slowly(self, block):
        try:
            block()
        finally:
            time.sleep(3)

    def perform(self, label, seconds):
        record = Performance.objects.create(
            label=label, job_id=self.job_id, pid=os.getpid(), started_at=timezone.now()
        )
        try:
            time.sleep(seconds)
        finally:
            record.finished_at = timezone.now()
            record.save(update_fields=["finished_at"])


class KillWorkerJob(Job):
    """Kill the worker process that performs it with SIGKILL, every time."""

    def perform(self, label):
        Performance.objects.create(label=label, job_id=self.job_id, pid=os.getpid(), started_at=timezone.now())
        os.kill(os.getpid(), signal.SIGKILL)


class FirstRunHangsJob(Job):
    """Hang on its first execution only, so a test can kill that worker; later executions finish at once."""

    def perform(self, label):
        Performance.objects.create(
            label=label, job_id=self.job_id, pid=os.getpid(), value=str(self.executions),
            started_at=timezone.now(),
        )
        if self.executions == 1:
            time.sleep(60)


class BatchedSlowJob(IntervalJob):
    """A job with a 2 s limit that takes most of it, so a batch of them outlasts the batch's first lock."""

    max_run_time = 2


class GilHogJob(Job):
    """Hold the GIL in one long C call, which stops every thread of the worker, heartbeat included."""

    def perform(self, label, size):
        Performance.objects.create(label=label, job_id=self.job_id, pid=os.getpid(), started_at=timezone.now())
        # sum() over a range runs in C without releasing the GIL.
        sum(range(size))


class QueueSizeJob(Job):
    """Record how many DelayedJob rows exist when it starts, after sleeping ``seconds`` first."""

    def perform(self, label, seconds=0.0):
        from django_activejob.models import DelayedJob

        time.sleep(seconds)
        Performance.objects.create(label=label, value=str(DelayedJob.objects.count()), pid=os.getpid())
