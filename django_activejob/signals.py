"""Signals sent as jobs move through their life.

Every signal is sent with ``sender`` set to the job's class and ``job`` set
to the job instance. django_activejob's own log lines are written by
receivers of these signals, in ``django_activejob.log``.
"""

from django.dispatch import Signal

#: A job was handed to its queue adapter. Extra: ``adapter``.
job_enqueued = Signal()

#: A job is about to perform.
job_started = Signal()

#: A job's perform returned. Extra: ``duration`` (seconds, float).
job_performed = Signal()

#: A job's perform raised. Extra: ``exception``, ``duration``.
job_failed = Signal()
