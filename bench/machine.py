"""Describe the host and the software versions a benchmark ran with."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import sqlite3
from pathlib import Path
from typing import Any


def describe_machine() -> dict[str, Any]:
    """Return the CPU count and model, the kernel, the load average and the UTC date."""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "load_average": load_average(),
    }


def describe_software() -> dict[str, Any]:
    """Return the versions of Python, Django, the database drivers and the SQLite library."""
    return {
        "python": platform.python_version(),
        "django": package_version("Django"),
        "psycopg": package_version("psycopg"),
        "mysqlclient": package_version("mysqlclient"),
        "sqlite": sqlite3.sqlite_version,
    }


def cpu_model() -> str | None:
    """Return the first "model name" of /proc/cpuinfo, or None where that file doesn't exist."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return None


def load_average() -> list[float] | None:
    """Return the 1, 5 and 15 minute load averages, which show how busy other processes kept the host."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
