"""Worker pools: which queues each group of worker processes serves, from --pool or a YAML file.

``--pool "mailers,default:2"`` means two processes on the queues mailers and
default; ``*`` means every queue. A YAML file (``--config jobs.yml``) names
the same, with options per pool::

    sleep_delay: 1          # options for every pool (optional)
    pools:
      - queues: [mailers, default]
        processes: 2
      - queues: "*"
        processes: 1
        min_priority: 10
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..queues import split_queue_names

#: Options a pool may set in the YAML file, with their types.
POOL_OPTIONS: dict[str, type | tuple[type, ...]] = {
    "min_priority": int,
    "max_priority": int,
    "sleep_delay": (int, float),
    "read_ahead": int,
}

#: The maximum number of processes one supervisor forks; it catches a typo such as 200 for 20.
MAX_PROCESSES = 256


class PoolError(ValueError):
    """A --pool value or a YAML file that can't be used; the message names the value and the fix."""


@dataclass
class Pool:
    """``processes`` workers on ``queues`` (None: every queue), with options."""

    queues: list[str] | None
    processes: int = 1
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{','.join(self.queues) if self.queues else '*'}:{self.processes}"


def parse_pool(value: str) -> Pool:
    """Parse delayed_job's ``--pool`` syntax: ``queue1,queue2[:processes]``, ``*`` for all queues."""
    names, separator, count = value.rpartition(":")
    if not separator:
        names, count = value, "1"
    if ":" in names:
        raise PoolError(
            f"--pool {value!r} has more than one ':'; write it as 'queue1,queue2:2', with the number of "
            f"processes after the only ':'."
        )
    try:
        processes = int(count)
    except ValueError:
        raise PoolError(
            f"--pool {value!r}: {count!r} is not a number of processes; write it as 'queue1,queue2:2'."
        ) from None
    where = f"--pool {value!r}"
    return Pool(queues=_queues(names, where), processes=_processes(processes, where))


def load_config(path: Path) -> tuple[list[Pool], dict[str, Any]]:
    """Read pools and shared options from a YAML file; raise PoolError naming the file and the key."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise PoolError(f"--config {path}: the file can't be read: {exc.strerror}.") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PoolError(f"--config {path}: the file is not valid YAML: {exc}") from None

    if not isinstance(document, dict):
        raise PoolError(f"--config {path}: expected a mapping with a 'pools' list at the top level.")
    where = f"--config {path}"
    unknown = set(document) - {"pools", *POOL_OPTIONS}
    if unknown:
        raise PoolError(
            f"{where}: unknown key(s) {sorted(unknown)}; use 'pools' and any of {sorted(POOL_OPTIONS)}."
        )
    shared = _options(document, where)
    entries = document.get("pools")
    if not isinstance(entries, list) or not entries:
        raise PoolError(
            f"{where}: 'pools' must be a non-empty list of pools, each a mapping with 'queues' "
            f"(default '*') and 'processes' (default 1)."
        )

    pools = []
    for number, entry in enumerate(entries, start=1):
        pool_where = f"{where}, pool {number}"
        if not isinstance(entry, dict):
            raise PoolError(f"{pool_where}: expected a mapping with 'queues' and 'processes', got {entry!r}.")
        unknown = set(entry) - {"queues", "processes", *POOL_OPTIONS}
        if unknown:
            raise PoolError(
                f"{pool_where}: unknown key(s) {sorted(unknown)}; use 'queues', 'processes' and any of "
                f"{sorted(POOL_OPTIONS)}."
            )
        queues = entry.get("queues", "*")
        if isinstance(queues, list):
            if not all(isinstance(name, str) for name in queues):
                raise PoolError(f"{pool_where}: 'queues' must list queue names as strings, got {queues!r}.")
            queues = ",".join(queues)
        if not isinstance(queues, str):
            raise PoolError(f"{pool_where}: 'queues' must be a list of names or '*', got {queues!r}.")
        processes = entry.get("processes", 1)
        if isinstance(processes, bool) or not isinstance(processes, int):
            raise PoolError(f"{pool_where}: 'processes' must be an int, got {processes!r}.")
        pools.append(Pool(
            queues=_queues(queues, pool_where),
            processes=_processes(processes, pool_where),
            options={**shared, **_options(entry, pool_where)},
        ))
    return pools, shared


def check_total(pools: list[Pool]) -> None:
    total = sum(pool.processes for pool in pools)
    if total > MAX_PROCESSES:
        raise PoolError(
            f"The pools add up to {total} processes; one supervisor runs at most {MAX_PROCESSES}. "
            f"Run several supervisors, on one or more machines, instead."
        )


def _queues(names: str, where: str) -> list[str] | None:
    if names.strip() == "*":
        return None
    try:
        return split_queue_names(names)
    except (TypeError, ValueError) as exc:
        raise PoolError(f"{where}: {exc} Use '*' for every queue.") from None


def _processes(processes: int, where: str) -> int:
    if not 1 <= processes <= MAX_PROCESSES:
        raise PoolError(f"{where}: {processes} processes is invalid; use 1 to {MAX_PROCESSES}.")
    return processes


def _options(mapping: dict[str, Any], where: str) -> dict[str, Any]:
    options = {}
    for name, expected in POOL_OPTIONS.items():
        if name not in mapping:
            continue
        value = mapping[name]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise PoolError(f"{where}: {name!r} must be a number, got {value!r}.")
        if name == "sleep_delay" and not (0 < value < 86400 and math.isfinite(value)):
            raise PoolError(f"{where}: 'sleep_delay' {value!r} must be greater than 0 and less than 86400.")
        if name == "read_ahead" and value < 1:
            raise PoolError(f"{where}: 'read_ahead' {value!r} must be 1 or more.")
        options[name] = value
    low, high = options.get("min_priority"), options.get("max_priority")
    if low is not None and high is not None and low > high:
        raise PoolError(
            f"{where}: min_priority {low} is greater than max_priority {high}: no job could match."
        )
    return options
