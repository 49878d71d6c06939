"""Fixture jobs for the async adapter tests.

Each job puts a dict of what it saw on ``events``, so a test waits with
``events.get(timeout=...)`` instead of sleeping.
"""

import queue
import threading
import time

from django.utils import timezone

from django_activejob import Job
from django_activejob.rescue import retry_on

from .models import Performance

#: Reports from jobs, in the order they were put.
events: queue.Queue = queue.Queue()

#: The event each BlockingJob waits for, by label. Tests create them before enqueueing.
gates: dict[str, threading.Event] = {}

#: The barrier each ConcurrentJob waits at, by label.
barriers: dict[str, threading.Barrier] = {}


def report(job, **details):
    events.put({
        "job_id": job.job_id,
        "thread": threading.current_thread().name,
        "executions": job.executions,
        "at": timezone.now(),
        **details,
    })


class ReportJob(Job):
    """Report its arguments."""

    def perform(self, *args, **kwargs):
        report(self, args=args, kwargs=kwargs)


class RecordReportJob(Job):
    """Write one Performance row, then report."""

    def perform(self, label):
        Performance.objects.create(label=label, job_id=self.job_id)
        report(self, label=label)


class BlockingJob(Job):
    """Report that it started, then wait up to 30 s for ``gates[label]``."""

    def perform(self, label):
        report(self, label=label)
        gates[label].wait(timeout=30)


class ConcurrentJob(Job):
    """Wait at ``barriers[label]`` until ``parties`` jobs are there, then report whether they all were."""

    def perform(self, label, parties, timeout):
        barrier = barriers.setdefault(label, threading.Barrier(parties, timeout=timeout))
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            report(self, label=label, met=False)
        else:
            report(self, label=label, met=True)


class FlakyAsyncError(Exception):
    pass


@retry_on(FlakyAsyncError, wait=0.2, attempts=3, jitter=0)
class FlakyJob(Job):
    """Report, then raise FlakyAsyncError until execution number ``succeed_on``."""

    def perform(self, succeed_on):
        report(self, scheduled_at=self.scheduled_at)
        if self.executions < succeed_on:
            raise FlakyAsyncError(f"execution {self.executions} failed")


class PrintSleepJob(Job):
    """Print "started <label>", sleep, then print "finished <label>"; for tests of interpreter exit."""

    def perform(self, label, seconds):
        print(f"started {label}", flush=True)
        report(self, label=label)
        time.sleep(seconds)
        print(f"finished {label}", flush=True)
