"""Queue adapters: where an enqueued job goes.

``ACTIVEJOB["QUEUE_ADAPTER"]`` (or a job class's ``queue_adapter``) names
one: ``"database"``, ``"inline"``, ``"async"``, ``"test"``, the dotted path
of a QueueAdapter subclass, or an adapter instance.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .base import QueueAdapter

BUILTIN_ADAPTERS = {
    "database": "django_activejob.adapters.database.DatabaseAdapter",
    "inline": "django_activejob.adapters.inline.InlineAdapter",
    "test": "django_activejob.adapters.test.TestAdapter",
    "async": "django_activejob.adapters.asynchronous.AsyncAdapter",
}

_instances: dict[str, QueueAdapter] = {}

# Adapters forced on every job class by use_adapter(), innermost last.
_overrides: list[QueueAdapter] = []


def current_adapter(class_setting: Any = None) -> QueueAdapter:
    """Return the adapter for a job class whose ``queue_adapter`` is ``class_setting``.

    use_adapter() wins over everything; then ``DELAY_JOBS = False`` selects
    inline; then the class's setting; then ``ACTIVEJOB["QUEUE_ADAPTER"]``.
    """
    from .. import conf

    if _overrides:
        return _overrides[-1]
    if not conf.get("DELAY_JOBS"):
        return resolve_adapter("inline")
    return resolve_adapter(class_setting or conf.get("QUEUE_ADAPTER"))


@contextlib.contextmanager
def use_adapter(adapter: Any) -> Iterator[QueueAdapter]:
    """Send every job to ``adapter`` inside the block, overriding the settings; for tests."""
    instance = resolve_adapter(adapter)
    _overrides.append(instance)
    try:
        yield instance
    finally:
        _overrides.remove(instance)


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


__all__ = ["QueueAdapter", "current_adapter", "resolve_adapter", "use_adapter"]
