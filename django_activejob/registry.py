"""The registry of Job subclasses, keyed by their dotted path.

A worker turns a stored class path into a class only through this registry,
so a row can't make the worker import or run arbitrary code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from django.apps import apps

from .exceptions import JobClassNotFoundError

if TYPE_CHECKING:
    from .job import Job

_jobs: dict[str, type[Job]] = {}


def class_path(job_class: type) -> str:
    """Return the ``module.QualifiedName`` path stored in a job's payload."""
    return f"{job_class.__module__}.{job_class.__qualname__}"


def register(job_class: type[Job]) -> None:
    _jobs[class_path(job_class)] = job_class


def lookup(path: str) -> type[Job]:
    """Return the registered Job subclass for ``path``.

    A class not registered yet is looked for by importing its module, but
    only when that module belongs to an installed Django app.
    """
    job_class = _jobs.get(path)
    if job_class is not None:
        return job_class

    module_name = path.rpartition(".")[0]
    if belongs_to_installed_app(module_name):
        try:
            importlib.import_module(module_name.split(".<locals>")[0])
        except ImportError as exc:
            raise JobClassNotFoundError(
                f"Job class {path!r} could not be found: import of module "
                f"{module_name!r} failed ({exc}). Was it renamed or removed in a deploy?"
            ) from exc
        job_class = _jobs.get(path)
        if job_class is not None:
            return job_class

    raise JobClassNotFoundError(
        f"Job class {path!r} could not be found: it is not a Job subclass in an "
        f"importable module of an app in INSTALLED_APPS. Was it renamed or removed in a deploy?"
    )


def belongs_to_installed_app(module_name: str) -> bool:
    """Return whether ``module_name`` is an installed app's package or inside it."""
    for config in apps.get_app_configs():
        if module_name == config.name or module_name.startswith(config.name + "."):
            return True
    return False
