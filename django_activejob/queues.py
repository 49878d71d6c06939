"""Queue names and priorities: validation and the project's queue name prefix."""

from __future__ import annotations

from typing import Any

from . import conf

MAX_QUEUE_NAME_LENGTH = 255


def validate_queue_name(queue: Any) -> str:
    """Return ``queue`` if it is a usable queue name, else raise ValueError."""
    if not isinstance(queue, str):
        raise TypeError(f"Queue name {queue!r} is invalid: pass a str.")
    if not queue or queue != queue.strip() or "," in queue:
        raise ValueError(
            f"Queue name {queue!r} is invalid: it must be non-empty, without surrounding "
            f"whitespace or commas, because workers take comma-separated queue lists."
        )
    if len(queue) > MAX_QUEUE_NAME_LENGTH:
        raise ValueError(
            f"Queue name {queue[:40]!r}... is {len(queue)} characters long; the maximum is "
            f"{MAX_QUEUE_NAME_LENGTH}."
        )
    return queue


def split_queue_names(value: str) -> list[str]:
    """Split a comma-separated list into queue names, without repeats; raise ValueError for an invalid one."""
    names: list[str] = []
    for part in value.split(","):
        name = validate_queue_name(part.strip())
        if name not in names:
            names.append(name)
    return names


def prefixed_queue_name(queue: str) -> str:
    """Return ``queue`` with ``ACTIVEJOB["QUEUE_NAME_PREFIX"]`` and its delimiter in front, if set."""
    prefix = conf.get("QUEUE_NAME_PREFIX")
    if not prefix:
        return queue
    return validate_queue_name(f"{prefix}{conf.get('QUEUE_NAME_DELIMITER')}{queue}")


#: The range of the priority column, a 32-bit integer.
MIN_PRIORITY = -(2**31)
MAX_PRIORITY = 2**31 - 1


def validate_priority(priority: Any) -> int:
    """Return ``priority`` if it is an int the priority column can store, else raise."""
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise TypeError(f"Priority {priority!r} is invalid: pass an int (lower runs first).")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(
            f"Priority {priority} is invalid: pass an int from {MIN_PRIORITY} to {MAX_PRIORITY}."
        )
    return priority
