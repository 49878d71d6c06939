import datetime
import decimal
import json
import math
import uuid
import zoneinfo

import pytest
from django.contrib.auth.models import User

from django_activejob.exceptions import (
    DeserializationError,
    InvalidPayloadError,
    RecordNotFoundDeserializationError,
    SerializationError,
)
from django_activejob.serialization import deserialize_arguments, serialize_arguments
from tests.testapp.models import Invoice, Tag

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")

ROUND_TRIP_VALUES = [
    None,
    True,
    False,
    0,
    -7,
    2**70,
    1.5,
    -0.0,
    "",
    "plain",
    "ünïcödé 👨‍💼 €",
    [1, "two", [3.0, None]],
    (1, (2, 3), []),
    {"a": 1, "nested": {"b": [1, 2]}},
    {"": "empty key", "_aj_not_reserved": 1},
    datetime.datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN),
    datetime.datetime(2026, 3, 29, 0, 30, tzinfo=datetime.UTC),
    datetime.datetime(2026, 3, 29, 0, 30, 15, 123456),
    datetime.date(2026, 12, 4),
    datetime.time(23, 59, 59, 999999),
    datetime.time(8, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    datetime.timedelta(days=-1, seconds=5, microseconds=7),
    decimal.Decimal("1.10"),
    decimal.Decimal("-0.000000000000000000001"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    float("inf"),
    float("-inf"),
]


def round_trip(*args, **kwargs):
    """Serialize through real JSON text, as the database adapter stores it."""
    data = json.loads(json.dumps(serialize_arguments(args, kwargs), ensure_ascii=True, allow_nan=False))
    return deserialize_arguments(data)


@pytest.mark.parametrize("value", ROUND_TRIP_VALUES, ids=repr)
def test_value_round_trips(value):
    args, kwargs = round_trip(value, keyword=value)

    assert args == [value]
    assert kwargs == {"keyword": value}
    assert type(args[0]) is type(value)


def test_datetime_keeps_zone_and_naivety():
    aware = datetime.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)
    naive = datetime.datetime(2026, 10, 25, 2, 30)

    (aware_back, naive_back), _ = round_trip(aware, naive)

    assert aware_back.tzinfo == BERLIN
    assert aware_back.utcoffset() == datetime.timedelta(hours=1)
    assert aware_back == aware
    assert naive_back.tzinfo is None
    assert naive_back == naive


def test_nan_round_trips():
    (value,), _ = round_trip(float("nan"))

    assert math.isnan(value)


def test_str_subclass_stored_as_str():
    from django.utils.safestring import mark_safe

    (value,), _ = round_trip(mark_safe("<b>"))

    assert value == "<b>"
    assert type(value) is str


@pytest.mark.django_db
def test_model_instance_travels_by_reference():
    invoice = Invoice.objects.create(number="A-1")
    tag = Tag.objects.create(name="urgent")
    data = serialize_arguments([invoice], {"tag": tag})

    assert data["args"][0] == {"_aj": "model", "app": "testapp", "model": "invoice", "pk": invoice.pk}

    Invoice.objects.filter(pk=invoice.pk).update(number="A-2")
    args, kwargs = deserialize_arguments(json.loads(json.dumps(data)))

    assert args[0].number == "A-2"
    assert kwargs["tag"] == tag


@pytest.mark.django_db
def test_deleted_model_raises_record_not_found():
    invoice = Invoice.objects.create(number="A-1")
    data = serialize_arguments([invoice], {})
    pk = invoice.pk
    invoice.delete()

    with pytest.raises(RecordNotFoundDeserializationError) as raised:
        deserialize_arguments(data)

    assert isinstance(raised.value, DeserializationError)
    assert str(raised.value) == (
        f"Invoice with pk={pk} was not found; it was deleted after the job was enqueued."
    )


def test_unsaved_model_rejected():
    with pytest.raises(SerializationError) as raised:
        serialize_arguments([User(username="new")], {})

    assert str(raised.value).startswith(
        "Can't serialize positional argument 0: User instance has no primary key;"
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (
            [1, {2, 3}], {},
            "Can't serialize positional argument 1: values of type builtins.set are not supported.",
        ),
        (
            [], {"callback": print}, "Can't serialize keyword argument 'callback': values of type "
            "builtins.builtin_function_or_method are not supported.",
        ),
        (
            [[1, {"when": object()}]], {},
            "Can't serialize positional argument 0[1]['when']: values of type builtins.object "
            "are not supported.",
        ),
        (
            [(1, b"bytes")], {},
            "Can't serialize positional argument 0[1]: values of type builtins.bytes are not supported.",
        ),
    ],
)
def test_unsupported_type_names_position_and_type(args, kwargs, message):
    with pytest.raises(SerializationError) as raised:
        serialize_arguments(args, kwargs)

    assert str(raised.value).startswith(message)


def test_non_str_dict_key_rejected():
    with pytest.raises(SerializationError) as raised:
        serialize_arguments([{1: "one"}], {})

    assert str(raised.value) == (
        "Can't serialize positional argument 0: dict key 1 is of type int, but JSON objects "
        "take str keys only. Convert the keys to str."
    )


def test_reserved_key_rejected():
    with pytest.raises(SerializationError) as raised:
        serialize_arguments([], {"options": {"_aj": "datetime"}})

    assert "the dict key '_aj' is reserved" in str(raised.value)


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"args": "nope", "kwargs": {}},
        {"args": [{"_aj": "no-such-tag"}], "kwargs": {}},
        {"args": [{"_aj": "decimal"}], "kwargs": {}},
        {"args": [{"_aj": "datetime", "value": "not a date"}], "kwargs": {}},
    ],
)
def test_malformed_payload_raises_invalid_payload(data):
    with pytest.raises(InvalidPayloadError):
        deserialize_arguments(data)


def test_uninstalled_model_raises_deserialization_error():
    data = {"args": [{"_aj": "model", "app": "gone", "model": "thing", "pk": 1}], "kwargs": {}}

    with pytest.raises(DeserializationError) as raised:
        deserialize_arguments(data)

    assert "Model 'gone.thing' is not installed" in str(raised.value)
