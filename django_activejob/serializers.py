"""ArgumentSerializer, the base class of every argument serializer, and the built-in ones.

django_activejob.serialization loads these and the project's own serializers
(``ACTIVEJOB["SERIALIZERS"]``) and uses them to turn job arguments into JSON.
"""

from __future__ import annotations

import datetime
import decimal
import re
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import models

from .exceptions import DeserializationError, RecordNotFoundDeserializationError

#: The key that marks a tagged value. A user dict may not contain it.
TYPE_KEY = "_aj"


class ArgumentSerializer:
    """Base class for serializers of one kind of job argument.

    A subclass sets two class attributes and implements two methods:

    ``tag``
        A short str stored under ``"_aj"`` that names this serializer in the
        payload. It must differ from every other serializer's tag, built-in
        ones included, and must not change while jobs that use it are queued.
    ``types``
        A tuple of the classes it accepts. A value is matched with
        ``isinstance``, so subclasses match too. Project serializers are
        tried first in the order of ``ACTIVEJOB["SERIALIZERS"]``, then the
        built-ins. Exact instances of None, bool, int, str, finite float,
        list and dict are always stored as plain JSON and never reach a
        serializer, but their subclasses do (an IntEnum, for example).
    ``serialize(value, serialize_nested)``
        Returns a dict of JSON values (None, bool, int, finite float, str,
        list, dict with str keys) without the key ``"_aj"``. Values of other
        types go through ``serialize_nested(item, step)``, where ``step`` is
        appended to the argument's path in error messages, such as
        ``".amount"``. Raise ValueError for a value that can't be stored.
        The message becomes a SerializationError at enqueue time.
    ``deserialize(data, deserialize_nested)``
        Rebuilds the value from the dict that ``serialize`` returned, which
        now also contains the ``"_aj"`` tag. Pass what ``serialize_nested``
        produced to ``deserialize_nested``. A KeyError, IndexError,
        TypeError, ValueError or ArithmeticError raised here is treated as a
        malformed payload: it becomes InvalidPayloadError, and the worker
        fails the job at once without retrying. Any other exception, such as
        a database error, passes through, and the worker retries the job.

    The class is instantiated without arguments when a value first needs a
    serializer, and again after the ``ACTIVEJOB`` setting changes. Register
    it by dotted path::

        ACTIVEJOB = {"SERIALIZERS": ["myapp.serializers.MoneySerializer"]}

    Example, for a ``Money(amount: Decimal, currency: str)`` dataclass::

        class MoneySerializer(ArgumentSerializer):
            tag = "money"
            types = (Money,)

            def serialize(self, value, serialize_nested):
                return {"amount": serialize_nested(value.amount, ".amount"), "currency": value.currency}

            def deserialize(self, data, deserialize_nested):
                return Money(deserialize_nested(data["amount"]), data["currency"])

    ``Money(Decimal("9.99"), "EUR")`` is then stored as
    ``{"_aj": "money", "amount": {"_aj": "decimal", "value": "9.99"}, "currency": "EUR"}``.
    """

    tag: str = ""
    types: tuple[type, ...] = ()

    def serialize(self, value: Any, serialize_nested: Callable[..., Any]) -> dict[str, Any]:
        raise NotImplementedError

    def deserialize(self, data: dict[str, Any], deserialize_nested: Callable[[Any], Any]) -> Any:
        raise NotImplementedError


# A UTC offset with a fraction of a second, as isoformat writes it: "+00:00:00.000001".
_FRACTIONAL_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2}):(\d{2})\.(\d{6})$")


def _from_isoformat(parse: Callable[[str], Any], text: str) -> Any:
    """Parse ISO 8601 text with datetime.fromisoformat or time.fromisoformat, keeping a fractional offset.

    NOTE: the C fromisoformat of CPython 3.11.7, 3.12.1 and 3.13.0 reads an
    offset whose whole seconds are zero, such as "+00:00:00.000001", as UTC.
    Such an offset is rebuilt from the text here.
    """
    value = parse(text)
    match = _FRACTIONAL_OFFSET.search(text)
    if match is not None:
        sign, hours, minutes, seconds, microseconds = match.groups()
        offset = datetime.timedelta(
            hours=int(hours), minutes=int(minutes), seconds=int(seconds), microseconds=int(microseconds)
        )
        value = value.replace(tzinfo=datetime.timezone(-offset if sign == "-" else offset))
    return value


def _zone_key(tzinfo: datetime.tzinfo | None) -> str | None:
    """Return the IANA name of a zoneinfo zone, or None for any other tzinfo."""
    if isinstance(tzinfo, zoneinfo.ZoneInfo) and isinstance(tzinfo.key, str):
        return tzinfo.key
    return None


class DateTimeSerializer(ArgumentSerializer):
    """A datetime, naive or aware, stored as ISO 8601 text with its UTC offset.

    A zoneinfo zone also keeps its IANA name, because an offset alone loses
    the zone's daylight-saving rules. ``fold`` is stored when it is 1, since
    ISO 8601 text has no field for it.
    """

    tag = "datetime"
    types = (datetime.datetime,)

    def serialize(self, value, serialize_nested):
        data: dict[str, Any] = {"value": value.isoformat()}
        zone = _zone_key(value.tzinfo)
        if zone is not None:
            data["zone"] = zone
        if value.fold:
            data["fold"] = 1
        return data

    def deserialize(self, data, deserialize_nested):
        stored = _from_isoformat(datetime.datetime.fromisoformat, data["value"])
        if "zone" not in data:
            return stored.replace(fold=data.get("fold", 0))
        zone = zoneinfo.ZoneInfo(data["zone"])
        # The same wall time, fold and zone give back the value that was
        # passed, including a wall time that the zone skips. When the zone's
        # offset for that wall time no longer matches the stored one, because
        # the tz database changed or an older version wrote the row without
        # "fold", the stored instant wins.
        value = stored.replace(tzinfo=zone, fold=data.get("fold", 0))
        if value.utcoffset() != stored.utcoffset():
            value = stored.astimezone(zone)
        return value


class DateSerializer(ArgumentSerializer):
    tag = "date"
    types = (datetime.date,)

    def serialize(self, value, serialize_nested):
        return {"value": value.isoformat()}

    def deserialize(self, data, deserialize_nested):
        return datetime.date.fromisoformat(data["value"])


class TimeSerializer(ArgumentSerializer):
    """A time, stored as ISO 8601 text.

    A zoneinfo zone has no offset without a date, so it is stored by name.
    """

    tag = "time"
    types = (datetime.time,)

    def serialize(self, value, serialize_nested):
        data: dict[str, Any] = {"value": value.isoformat()}
        zone = _zone_key(value.tzinfo)
        if zone is not None:
            data["zone"] = zone
        if value.fold:
            data["fold"] = 1
        return data

    def deserialize(self, data, deserialize_nested):
        value = _from_isoformat(datetime.time.fromisoformat, data["value"]).replace(fold=data.get("fold", 0))
        if "zone" in data:
            value = value.replace(tzinfo=zoneinfo.ZoneInfo(data["zone"]))
        return value


class TimeDeltaSerializer(ArgumentSerializer):
    tag = "timedelta"
    types = (datetime.timedelta,)

    def serialize(self, value, serialize_nested):
        return {"days": value.days, "seconds": value.seconds, "microseconds": value.microseconds}

    def deserialize(self, data, deserialize_nested):
        return datetime.timedelta(
            days=data["days"], seconds=data["seconds"], microseconds=data["microseconds"]
        )


class _StrValueSerializer(ArgumentSerializer):
    """A value stored as its str and rebuilt by calling its single type on that str."""

    def serialize(self, value, serialize_nested):
        return {"value": str(value)}

    def deserialize(self, data, deserialize_nested):
        return self.types[0](data["value"])


class DecimalSerializer(_StrValueSerializer):
    """A Decimal, stored as its str, which keeps the exponent, the sign and NaN payloads."""

    tag = "decimal"
    types = (decimal.Decimal,)


class UUIDSerializer(_StrValueSerializer):
    tag = "uuid"
    types = (uuid.UUID,)


class NonFiniteFloatSerializer(ArgumentSerializer):
    """A float that is not stored as a plain JSON number.

    These are NaN and the infinities, which JSON has no literal for, and
    float subclasses, which come back as float.
    """

    tag = "float"
    types = (float,)

    def serialize(self, value, serialize_nested):
        return {"value": repr(float(value))}

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


#: Dotted paths of the serializers that are always registered, in the order
#: they are tried, so a subclass (datetime) precedes its base (date).
BUILTIN_SERIALIZERS: tuple[str, ...] = tuple(
    f"{__name__}.{serializer_class.__name__}"
    for serializer_class in (
        DateTimeSerializer,
        DateSerializer,
        TimeSerializer,
        TimeDeltaSerializer,
        DecimalSerializer,
        UUIDSerializer,
        TupleSerializer,
        ModelSerializer,
        NonFiniteFloatSerializer,
    )
)
