"""Turn ``wait=`` and ``wait_until=`` into an aware UTC run time."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from .exceptions import UnsupportedFeatureError

if TYPE_CHECKING:
    from .adapters import QueueAdapter
    from .job import Job


def run_time(wait: Any = None, wait_until: Any = None) -> datetime.datetime | None:
    """Return when a job should run, in UTC, or None to run as soon as possible.

    ``wait`` is a timedelta or a number of seconds counted from now in real
    elapsed time, so a daylight-saving change in between doesn't move it.
    ``wait_until`` is a datetime. A naive one is read in the current time
    zone, and a local time that the zone skips or repeats raises ValueError
    because it names no single instant.
    """
    if wait is not None and wait_until is not None:
        raise ValueError(
            f"Pass wait={wait!r} or wait_until={wait_until!r}, not both."
        )
    if wait is not None:
        return timezone.now() + _as_timedelta(wait)
    if wait_until is not None:
        return _as_utc(wait_until)
    return None


def _as_timedelta(wait: Any) -> datetime.timedelta:
    if isinstance(wait, datetime.timedelta):
        delta = wait
    elif isinstance(wait, (int, float)) and not isinstance(wait, bool):
        delta = datetime.timedelta(seconds=wait)
    else:
        raise TypeError(
            f"wait={wait!r} is invalid: pass a timedelta or a number of seconds."
        )
    if delta < datetime.timedelta(0):
        raise ValueError(f"wait={wait!r} is negative: pass zero or more.")
    return delta


def _as_utc(moment: Any) -> datetime.datetime:
    if not isinstance(moment, datetime.datetime):
        raise TypeError(f"wait_until={moment!r} is invalid: pass a datetime.")
    if timezone.is_aware(moment):
        return moment.astimezone(datetime.UTC)
    if not settings.USE_TZ:
        raise ValueError(
            f"wait_until={moment!r} is naive and USE_TZ is False: pass an aware datetime."
        )

    zone = timezone.get_current_timezone()
    earlier = moment.replace(tzinfo=zone, fold=0)
    later = moment.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() != later.utcoffset():
        roundtrip = earlier.astimezone(datetime.UTC).astimezone(zone).replace(tzinfo=None)
        problem = "does not exist" if roundtrip != moment else "is ambiguous"
        raise ValueError(
            f"wait_until={moment.isoformat()} {problem} in time zone {zone}, because of a "
            f"daylight-saving change. Pass an aware datetime or a wait= duration."
        )
    return earlier.astimezone(datetime.UTC)


def check_scheduling(adapter: QueueAdapter, job: Job) -> None:
    """Raise UnsupportedFeatureError if ``job`` has a future run time that ``adapter`` can't keep."""
    if adapter.supports_scheduling or job.scheduled_at is None or job.scheduled_at <= timezone.now():
        return
    raise UnsupportedFeatureError(
        f"The {adapter.name} adapter can't schedule {type(job).__name__} for "
        f"{job.scheduled_at.isoformat()}: use the database adapter, or enqueue without wait/wait_until."
    )
