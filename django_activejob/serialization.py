"""Turn job arguments into JSON-safe values and back.

Plain JSON values (None, bool, int, str, finite float, list, dict with str
keys) are stored as they are. Every other supported type is stored as a dict
tagged with the reserved key ``"_aj"``::

    datetime(2026, 3, 1, 9, 30, tzinfo=UTC)  ->  {"_aj": "datetime", "value": "2026-03-01T09:30:00+00:00"}
    Decimal("1.10")                           ->  {"_aj": "decimal", "value": "1.10"}
    <User pk=7>                               ->  {"_aj": "model", "app": "auth", "model": "user", "pk": 7}

Each tag belongs to one ArgumentSerializer. The built-in serializers and the
ones a project lists in ``ACTIVEJOB["SERIALIZERS"]`` are loaded by the same
code, and the project's serializers are tried first. docs/serialization.md
shows how to write one.

Model instances travel by reference and are fetched again at perform time,
so a job gets the row as it is then, or fails with
RecordNotFoundDeserializationError when the row is gone.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from . import conf
from .exceptions import (
    DeserializationError,
    InvalidPayloadError,
    SerializationError,
)
from .serializers import BUILTIN_SERIALIZERS, TYPE_KEY, ArgumentSerializer

__all__ = [
    "TYPE_KEY",
    "ArgumentSerializer",
    "SerializerSettingError",
    "deserialize_arguments",
    "find_serializer_setting_errors",
    "registered_serializers",
    "serialize_arguments",
]

# Loading ACTIVEJOB["SERIALIZERS"]


class SerializerSettingError(ImproperlyConfigured):
    """An invalid ``ACTIVEJOB["SERIALIZERS"]`` entry.

    ``message`` names the entry and the problem, and ``hint`` the fix. str()
    of the exception contains both.
    """

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(f"{message} {hint}")
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class _Registry:
    #: Serializers in the order values are matched: the project's, then the built-ins.
    serializers: tuple[ArgumentSerializer, ...]
    by_tag: dict[str, ArgumentSerializer]
    #: Tags of the project's serializers, whose output is checked for JSON safety.
    custom_tags: frozenset[str]
    #: The dotted path of each tag's serializer, for error messages.
    paths: dict[str, str]


_registry_cache: _Registry | None = None


def _registry() -> _Registry:
    """Load the serializers on first use after a settings change, and return them.

    Raises SerializerSettingError for the first invalid entry of
    ``ACTIVEJOB["SERIALIZERS"]``. A failed load is not cached.
    """
    global _registry_cache
    registry = _registry_cache
    if registry is None:
        registry, errors = _load_registry(conf.get("SERIALIZERS"))
        if errors:
            raise errors[0]
        _registry_cache = registry
    return registry


@receiver(setting_changed)
def _clear_registry_cache(*, setting: str, **kwargs: Any) -> None:
    global _registry_cache
    if setting == "ACTIVEJOB":
        _registry_cache = None


def registered_serializers() -> tuple[ArgumentSerializer, ...]:
    """Return every serializer in the order values are matched: the project's first, then the built-ins.

    Raises SerializerSettingError when ``ACTIVEJOB["SERIALIZERS"]`` is invalid.
    """
    return _registry().serializers


def find_serializer_setting_errors(setting: Any) -> list[SerializerSettingError]:
    """Return an error for every invalid entry of an ``ACTIVEJOB["SERIALIZERS"]`` value.

    Imports each listed module. The system check reports these errors.
    """
    return _load_registry(setting)[1]


def _load_registry(setting: Any) -> tuple[_Registry, list[SerializerSettingError]]:
    errors: list[SerializerSettingError] = []
    if isinstance(setting, str) or not isinstance(setting, Sequence):
        errors.append(SerializerSettingError(
            f"ACTIVEJOB['SERIALIZERS'] must be a list of dotted paths, not {type(setting).__name__}.",
            "Set it to a list such as ['myapp.serializers.MoneySerializer'].",
        ))
        setting = []

    # The built-ins claim their tags first, so a clash names the project's entry.
    paths: dict[str, str] = {}
    builtin = _load_serializers(BUILTIN_SERIALIZERS, paths, errors)
    custom = _load_serializers(setting, paths, errors)
    serializers = (*custom, *builtin)
    registry = _Registry(
        serializers=serializers,
        by_tag={serializer.tag: serializer for serializer in serializers},
        custom_tags=frozenset(serializer.tag for serializer in custom),
        paths=paths,
    )
    return registry, errors


def _load_serializers(
    entries: Sequence[Any], paths: dict[str, str], errors: list[SerializerSettingError]
) -> list[ArgumentSerializer]:
    """Instantiate each entry, adding its tag to ``paths`` or an error to ``errors``."""
    loaded = []
    for entry in entries:
        try:
            serializer = _load_serializer(entry)
            _claim_tag(serializer.tag, entry, paths)
        except SerializerSettingError as exc:
            errors.append(exc)
        else:
            loaded.append(serializer)
    return loaded


def _load_serializer(path: Any) -> ArgumentSerializer:
    """Import and instantiate one serializer class, or raise SerializerSettingError."""
    if not isinstance(path, str):
        raise SerializerSettingError(
            f"ACTIVEJOB['SERIALIZERS'] contains {path!r}, which is not a dotted path.",
            "List each serializer as a str such as 'myapp.serializers.MoneySerializer'.",
        )
    try:
        serializer_class = import_string(path)
    except ImportError as exc:
        raise SerializerSettingError(
            f"Serializer {path!r} in ACTIVEJOB['SERIALIZERS'] can't be imported: {exc}.",
            "Fix the module path or class name, or remove the entry.",
        ) from exc
    if not (isinstance(serializer_class, type) and issubclass(serializer_class, ArgumentSerializer)):
        raise SerializerSettingError(
            f"Serializer {path!r} in ACTIVEJOB['SERIALIZERS'] is not an ArgumentSerializer subclass.",
            "Point the entry at a subclass of django_activejob.serialization.ArgumentSerializer.",
        )
    try:
        serializer = serializer_class()
    except TypeError as exc:
        raise SerializerSettingError(
            f"Serializer {path!r} in ACTIVEJOB['SERIALIZERS'] can't be instantiated without "
            f"arguments: {exc}.",
            "Give its __init__ no required parameters.",
        ) from exc

    tag = serializer.tag
    if not isinstance(tag, str) or not tag:
        raise SerializerSettingError(
            f"Serializer {path!r} in ACTIVEJOB['SERIALIZERS'] has the invalid tag {tag!r}.",
            "Set the class attribute tag to a non-empty str, such as 'money'.",
        )
    types = serializer.types
    if not isinstance(types, tuple) or not all(isinstance(item, type) for item in types):
        raise SerializerSettingError(
            f"Serializer {path!r} in ACTIVEJOB['SERIALIZERS'] has invalid types {types!r}.",
            "Set the class attribute types to a tuple of classes, such as (Money,).",
        )
    return serializer


def _claim_tag(tag: str, path: str, paths: dict[str, str]) -> None:
    owner = paths.get(tag)
    if owner == path and path in BUILTIN_SERIALIZERS:
        raise SerializerSettingError(
            f"Serializer {path!r} in ACTIVEJOB['SERIALIZERS'] is built in and always registered.",
            "Remove the entry.",
        )
    if owner == path:
        raise SerializerSettingError(
            f"Serializer {path!r} is listed more than once in ACTIVEJOB['SERIALIZERS'].",
            "Remove the duplicate entry.",
        )
    if owner is not None:
        built_in = " built-in" if owner in BUILTIN_SERIALIZERS else ""
        raise SerializerSettingError(
            f"Serializer {path!r} in ACTIVEJOB['SERIALIZERS'] has the tag {tag!r}, which the"
            f"{built_in} serializer {owner!r} already uses.",
            "Give each serializer its own tag. Stored jobs name their serializer by tag, so "
            "rename only a tag that no queued job uses yet.",
        )
    paths[tag] = path


# Serializing


def serialize_arguments(args: tuple | list, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Serialize a job's positional and keyword arguments.

    Raises SerializationError naming the argument (``positional argument 0``
    or ``keyword argument 'user'``), the path inside it and the type, and
    SerializerSettingError when ``ACTIVEJOB["SERIALIZERS"]`` is invalid.
    """
    return {
        "args": [_serialize(value, f"positional argument {i}") for i, value in enumerate(args)],
        "kwargs": {
            _keyword(name): _serialize(value, f"keyword argument {name!r}")
            for name, value in kwargs.items()
        },
    }


def _keyword(name: Any) -> str:
    if not isinstance(name, str):
        raise SerializationError(f"Keyword argument names must be str, not {type(name).__name__}.")
    return name


def _serialize(value: Any, where: str) -> Any:
    kind = type(value)
    # Exact plain JSON types need no serializer lookup.
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        _check_int_digits(value, where)
        return value
    if kind is float and math.isfinite(value):
        return value
    if kind is list:
        return _serialize_list(value, where)
    if kind is dict:
        return _serialize_dict(value, where)

    registry = _registry()
    for serializer in registry.serializers:
        if isinstance(value, serializer.types):
            return _serialize_tagged(serializer, value, where, registry)

    # Subclasses of plain JSON types that no serializer claimed are stored as the base type.
    if isinstance(value, str):
        # A str subclass such as SafeString is stored as a plain str.
        return str.__str__(value)
    if isinstance(value, int):
        return _serialize(int(value), where)
    if isinstance(value, list):
        return _serialize_list(value, where)
    if isinstance(value, dict):
        return _serialize_dict(value, where)
    raise SerializationError(
        f"Can't serialize {where}: values of type {type(value).__module__}."
        f"{type(value).__qualname__} are not supported. Pass a supported type (None, bool, "
        f"int, float, str, list, tuple, dict, date, time, datetime, timedelta, Decimal, "
        f"UUID or a saved model instance), for example its primary key, or register an "
        f"ArgumentSerializer for the type in ACTIVEJOB['SERIALIZERS']."
    )


def _serialize_tagged(
    serializer: ArgumentSerializer, value: Any, where: str, registry: _Registry
) -> dict[str, Any]:
    def serialize_nested(item: Any, step: str = "") -> Any:
        return _serialize(item, where + step)

    try:
        data = serializer.serialize(value, serialize_nested)
    except ValueError as exc:
        raise SerializationError(f"Can't serialize {where}: {exc}") from exc

    path = registry.paths[serializer.tag]
    if not isinstance(data, dict):
        raise SerializationError(
            f"Can't serialize {where}: {path}.serialize returned {type(data).__name__}, not a dict."
        )
    if TYPE_KEY in data:
        raise SerializationError(
            f"Can't serialize {where}: {path}.serialize returned a dict with the key {TYPE_KEY!r}, "
            f"which is reserved for the type tag. Rename that key."
        )
    if serializer.tag in registry.custom_tags:
        problem = _find_non_json(data, "data")
        if problem is not None:
            raise SerializationError(
                f"Can't serialize {where}: {path}.serialize returned {problem}. Return only None, "
                f"bool, int, finite float, str, list and dict with str keys, and pass other values "
                f"through serialize_nested."
            )
    return {TYPE_KEY: serializer.tag, **data}


def _serialize_list(value: list, where: str) -> list[Any]:
    return [_serialize(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _serialize_dict(value: dict, where: str) -> dict[str, Any]:
    result = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise SerializationError(
                f"Can't serialize {where}: dict key {key!r} is of type {type(key).__name__}, "
                f"but JSON objects take str keys only. Convert the keys to str."
            )
        if key == TYPE_KEY:
            raise SerializationError(
                f"Can't serialize {where}: the dict key {TYPE_KEY!r} is reserved for "
                f"django_activejob's type tags. Rename the key."
            )
        result[key] = _serialize(item, f"{where}[{key!r}]")
    return result


# Python raises ValueError when it converts an int of more digits than
# sys.get_int_max_str_digits() (640 or more, or 0 for no limit) to text or back,
# so json.dumps and json.loads fail on it. An int of at most
# 3 * 640 bits has at most 579 digits, so only longer ints need the exact test.
_SAFE_INT_BITS = 3 * 640


def _is_too_long_for_text(value: int) -> bool:
    if value.bit_length() <= _SAFE_INT_BITS:
        return False
    try:
        str(value)
    except ValueError:
        return True
    return False


def _check_int_digits(value: int, where: str) -> None:
    if _is_too_long_for_text(value):
        raise SerializationError(
            f"Can't serialize {where}: the int has more than {sys.get_int_max_str_digits()} "
            f"digits, which is Python's limit for converting an int to text, so it can't be "
            f"stored as JSON. Pass hex(value) and convert it back with int(text, 16)."
        )


def _find_non_json(value: Any, location: str) -> str | None:
    """Describe the first part of ``value`` that JSON text can't store exactly, or return None."""
    if value is None or isinstance(value, (bool, str)):
        return None
    if isinstance(value, int):
        return f"{location}, an int too long to convert to text" if _is_too_long_for_text(value) else None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{location} = {value!r}, which JSON has no number for"
    if isinstance(value, list):
        for i, item in enumerate(value):
            problem = _find_non_json(item, f"{location}[{i}]")
            if problem is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{location} with the key {key!r} of type {type(key).__name__}"
            problem = _find_non_json(item, f"{location}[{key!r}]")
            if problem is not None:
                return problem
        return None
    return f"{location} of type {type(value).__module__}.{type(value).__qualname__}"


# Deserializing


def deserialize_arguments(data: Any) -> tuple[list[Any], dict[str, Any]]:
    """Rebuild ``(args, kwargs)`` from what serialize_arguments returned.

    Raises InvalidPayloadError for a payload that can never be read (an
    unknown tag, a malformed tagged value) and DeserializationError for one
    that may load later (a deleted row, a model that is not installed).
    Other exceptions from a serializer, such as a database error, pass through.
    """
    if not isinstance(data, dict) or not isinstance(data.get("args"), list) or not isinstance(
        data.get("kwargs"), dict
    ):
        raise InvalidPayloadError(
            f"Arguments must be a dict with 'args' and 'kwargs', not {str(data)[:200]!r}."
        )
    args = [_deserialize(value) for value in data["args"]]
    kwargs = {name: _deserialize(value) for name, value in data["kwargs"].items()}
    return args, kwargs


def _deserialize(value: Any) -> Any:
    if isinstance(value, list):
        return [_deserialize(item) for item in value]
    if not isinstance(value, dict):
        return value
    if TYPE_KEY not in value:
        return {key: _deserialize(item) for key, item in value.items()}

    tag = value[TYPE_KEY]
    registry = _registry()
    serializer = registry.by_tag.get(tag) if isinstance(tag, str) else None
    if serializer is None:
        raise InvalidPayloadError(
            f"Unknown argument type tag {tag!r}: no registered serializer uses it. Add the "
            f"serializer that wrote it to ACTIVEJOB['SERIALIZERS'] in the worker's settings."
        )
    try:
        return serializer.deserialize(value, _deserialize)
    except DeserializationError:
        raise
    except (LookupError, TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidPayloadError(
            f"Invalid {tag!r} argument {str(value)[:200]}: {registry.paths[tag]}.deserialize "
            f"raised {exc!r}."
        ) from exc
