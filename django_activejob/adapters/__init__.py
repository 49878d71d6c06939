"""Queue adapters: where an enqueued job goes.

``ACTIVEJOB["QUEUE_ADAPTER"]`` (or a job class's ``queue_adapter``) names
one: ``"database"``, ``"inline"``, the dotted path of a QueueAdapter
subclass, or an adapter instance.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .base import QueueAdapter

BUILTIN_ADAPTERS = {
    "database": "django_activejob.adapters.database.DatabaseAdapter",
    "inline": "django_activejob.adapters.inline.InlineAdapter",
}

_instances: dict[str, QueueAdapter] = {}


def resolve_adapter(name: Any) -> QueueAdapter:
    """Return the adapter instance for a name, a dotted path or an instance."""
    if isinstance(name, QueueAdapter):
        return name
    if not isinstance(name, str):
        raise ImproperlyConfigured(
            f"Queue adapter {name!r} is invalid: pass one of {sorted(BUILTIN_ADAPTERS)}, "
            f"a dotted path to a QueueAdapter subclass, or an adapter instance."
        )
    adapter = _instances.get(name)
    if adapter is None:
        adapter = _instances[name] = _load(name)
    return adapter


def _load(name: str) -> QueueAdapter:
    path = BUILTIN_ADAPTERS.get(name, name)
    try:
        adapter_class = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"Queue adapter {name!r} is invalid: {exc}. Use one of "
            f"{sorted(BUILTIN_ADAPTERS)} or a dotted path to a QueueAdapter subclass."
        ) from exc
    if not (isinstance(adapter_class, type) and issubclass(adapter_class, QueueAdapter)):
        raise ImproperlyConfigured(f"Queue adapter {path!r} is not a QueueAdapter subclass.")
    return adapter_class()


__all__ = ["QueueAdapter", "resolve_adapter"]
