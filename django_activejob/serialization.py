"""Turn job arguments into JSON-safe values and back.

Plain JSON values (None, bool, int, str, finite float, list, dict with str
keys) are stored as they are. Every other supported type is stored as a dict
tagged with the reserved key ``"_aj"``::

    datetime(2026, 3, 1, 9, 30, tzinfo=UTC)  ->  {"_aj": "datetime", "value": "2026-03-01T09:30:00+00:00"}
    Decimal("1.10")                           ->  {"_aj": "decimal", "value": "1.10"}
    <User pk=7>                               ->  {"_aj": "model", "app": "auth", "model": "user", "pk": 7}

Model instances travel by reference and are fetched again at perform time,
so a job sees the row as it is then, or fails with
RecordNotFoundDeserializationError when the row is gone.
"""

from __future__ import annotations

import datetime
import decimal
import math
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import models

from .exceptions import (
    DeserializationError,
    InvalidPayloadError,
    RecordNotFoundDeserializationError,
    SerializationError,
)

#: The key that marks a tagged value. A user dict may not contain it.
TYPE_KEY = "_aj"


class ArgumentSerializer:
    """Convert one Python type to a JSON-safe dict and back.

    Subclasses set ``tag`` (stored under ``"_aj"``) and ``types`` (the
    classes they accept, matched with isinstance in registration order), and
    implement ``serialize`` and ``deserialize``. ``serialize`` receives a
    callable that serializes nested values, so containers can recurse, and
    raises ValueError for a value it can't store.
    """

    tag: str = ""
    types: tuple[type, ...] = ()

    def serialize(self, value: Any, serialize_nested: Callable[[Any, str], Any]) -> dict[str, Any]:
        raise NotImplementedError

    def deserialize(self, data: dict[str, Any], deserialize_nested: Callable[[Any], Any]) -> Any:
        raise NotImplementedError


class DateTimeSerializer(ArgumentSerializer):
    tag = "datetime"
    types = (datetime.datetime,)

    def serialize(self, value, serialize_nested):
        data = {"value": value.isoformat()}
        # An offset alone loses the zone's future DST rules; keep the IANA name.
        if isinstance(value.tzinfo, zoneinfo.ZoneInfo):
            data["zone"] = value.tzinfo.key
        return data

    def deserialize(self, data, deserialize_nested):
        value = datetime.datetime.fromisoformat(data["value"])
        if "zone" in data:
            value = value.astimezone(zoneinfo.ZoneInfo(data["zone"]))
        return value


class DateSerializer(ArgumentSerializer):
    tag = "date"
    types = (datetime.date,)

    def serialize(self, value, serialize_nested):
        return {"value": value.isoformat()}

    def deserialize(self, data, deserialize_nested):
        return datetime.date.fromisoformat(data["value"])


class TimeSerializer(ArgumentSerializer):
    tag = "time"
    types = (datetime.time,)

    def serialize(self, value, serialize_nested):
        return {"value": value.isoformat()}

    def deserialize(self, data, deserialize_nested):
        return datetime.time.fromisoformat(data["value"])


class TimeDeltaSerializer(ArgumentSerializer):
    tag = "timedelta"
    types = (datetime.timedelta,)

    def serialize(self, value, serialize_nested):
        return {"days": value.days, "seconds": value.seconds, "microseconds": value.microseconds}

    def deserialize(self, data, deserialize_nested):
        return datetime.timedelta(
            days=data["days"], seconds=data["seconds"], microseconds=data["microseconds"]
        )


class DecimalSerializer(ArgumentSerializer):
    tag = "decimal"
    types = (decimal.Decimal,)

    def serialize(self, value, serialize_nested):
        return {"value": str(value)}

    def deserialize(self, data, deserialize_nested):
        return decimal.Decimal(data["value"])


class UUIDSerializer(ArgumentSerializer):
    tag = "uuid"
    types = (uuid.UUID,)

    def serialize(self, value, serialize_nested):
        return {"value": str(value)}

    def deserialize(self, data, deserialize_nested):
        return uuid.UUID(data["value"])


class NonFiniteFloatSerializer(ArgumentSerializer):
    """NaN and infinities, which JSON has no literal for."""

    tag = "float"
    types = ()

    def serialize(self, value, serialize_nested):
        return {"value": repr(value)}

    def deserialize(self, data, deserialize_nested):
        return float(data["value"])


class TupleSerializer(ArgumentSerializer):
    tag = "tuple"
    types = (tuple,)

    def serialize(self, value, serialize_nested):
        return {"items": [serialize_nested(item, f"[{i}]") for i, item in enumerate(value)]}

    def deserialize(self, data, deserialize_nested):
        return tuple(deserialize_nested(item) for item in data["items"])


class ModelSerializer(ArgumentSerializer):
    """A saved model instance, stored as (app label, model name, primary key)."""

    tag = "model"
    types = (models.Model,)

    def serialize(self, value, serialize_nested):
        if value.pk is None:
            raise ValueError(
                f"{type(value).__name__} instance has no primary key; save it before "
                f"passing it to a job, or pass the values the job needs."
            )
        meta = value._meta
        return {"app": meta.app_label, "model": meta.model_name, "pk": serialize_nested(value.pk, ".pk")}

    def deserialize(self, data, deserialize_nested):
        label = f"{data['app']}.{data['model']}"
        try:
            model = apps.get_model(data["app"], data["model"])
        except LookupError as exc:
            raise DeserializationError(f"Model {label!r} is not installed: {exc}") from exc
        pk = deserialize_nested(data["pk"])
        try:
            return model._default_manager.get(pk=pk)
        except model.DoesNotExist:
            raise RecordNotFoundDeserializationError(model.__name__, pk) from None


#: Checked in this order, so a subclass (datetime) precedes its base (date).
BUILTIN_SERIALIZERS: tuple[ArgumentSerializer, ...] = (
    DateTimeSerializer(),
    DateSerializer(),
    TimeSerializer(),
    TimeDeltaSerializer(),
    DecimalSerializer(),
    UUIDSerializer(),
    TupleSerializer(),
    ModelSerializer(),
    NonFiniteFloatSerializer(),
)
_BY_TAG = {serializer.tag: serializer for serializer in BUILTIN_SERIALIZERS}
_NON_FINITE = _BY_TAG["float"]


def serialize_arguments(args: tuple | list, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Serialize a job's positional and keyword arguments.

    Raises SerializationError naming the argument (``positional argument 0``
    or ``keyword argument 'user'``), the path inside it and the type.
    """
    return {
        "args": [_serialize(value, f"positional argument {i}") for i, value in enumerate(args)],
        "kwargs": {
            _keyword(name): _serialize(value, f"keyword argument {name!r}")
            for name, value in kwargs.items()
        },
    }


def deserialize_arguments(data: Any) -> tuple[list[Any], dict[str, Any]]:
    """Rebuild ``(args, kwargs)`` from what serialize_arguments returned."""
    if not isinstance(data, dict) or not isinstance(data.get("args"), list) or not isinstance(
        data.get("kwargs"), dict
    ):
        raise InvalidPayloadError(
            f"Arguments must be a dict with 'args' and 'kwargs', not {str(data)[:200]!r}."
        )
    args = [_deserialize(value) for value in data["args"]]
    kwargs = {name: _deserialize(value) for name, value in data["kwargs"].items()}
    return args, kwargs


def _keyword(name: Any) -> str:
    if not isinstance(name, str):
        raise SerializationError(f"Keyword argument names must be str, not {type(name).__name__}.")
    return name


def _serialize(value: Any, where: str) -> Any:
    if value is None or type(value) in (bool, str):
        return value
    if isinstance(value, str):
        # A str subclass such as SafeString is stored as a plain str.
        return str.__str__(value)
    # bool is a subclass of int, so it was tested first.
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return {TYPE_KEY: _NON_FINITE.tag, **_NON_FINITE.serialize(value, None)}
    if isinstance(value, list):
        return [_serialize(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        return _serialize_dict(value, where)

    for serializer in BUILTIN_SERIALIZERS:
        if serializer.types and isinstance(value, serializer.types):
            try:
                data = serializer.serialize(value, lambda item, step: _serialize(item, where + step))
            except ValueError as exc:
                raise SerializationError(f"Can't serialize {where}: {exc}") from None
            return {TYPE_KEY: serializer.tag, **data}

    raise SerializationError(
        f"Can't serialize {where}: values of type {type(value).__module__}."
        f"{type(value).__qualname__} are not supported. Pass a supported type (None, bool, "
        f"int, float, str, list, tuple, dict, date, time, datetime, timedelta, Decimal, "
        f"UUID or a saved model instance), for example its primary key."
    )


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


def _deserialize(value: Any) -> Any:
    if isinstance(value, list):
        return [_deserialize(item) for item in value]
    if not isinstance(value, dict):
        return value
    if TYPE_KEY not in value:
        return {key: _deserialize(item) for key, item in value.items()}

    tag = value[TYPE_KEY]
    serializer = _BY_TAG.get(tag)
    if serializer is None:
        raise InvalidPayloadError(
            f"Unknown argument type tag {tag!r}; was the job enqueued by a newer version?"
        )
    try:
        return serializer.deserialize(value, _deserialize)
    except DeserializationError:
        raise
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidPayloadError(f"Invalid {tag!r} argument {str(value)[:200]}: {exc!r}") from exc
