import dataclasses
import datetime
import decimal
import enum
import json
import math
import os
import uuid
import zoneinfo
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.test import override_settings

from django_activejob import serialization, serializers
from django_activejob.checks import check_serializers
from django_activejob.exceptions import (
    DeserializationError,
    InvalidPayloadError,
    RecordNotFoundDeserializationError,
    SerializationError,
)
from django_activejob.models import DelayedJob
from django_activejob.serialization import (
    ArgumentSerializer,
    deserialize_arguments,
    registered_serializers,
    serialize_arguments,
)
from django_activejob.worker import Worker, WorkerOptions
from tests.testapp.jobs import EchoJob, InlineEchoJob, echoed
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
    # A wall time that Berlin skips when the clocks go forward.
    datetime.datetime(2026, 3, 29, 2, 30, tzinfo=BERLIN),
    datetime.date(2026, 12, 4),
    datetime.time(23, 59, 59, 999999),
    datetime.time(8, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    datetime.time(8, 0, tzinfo=BERLIN),
    # Offsets with a fraction of a second, which CPython's C fromisoformat reads as UTC.
    datetime.time(0, 0, tzinfo=datetime.timezone(datetime.timedelta(microseconds=1))),
    datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone(-datetime.timedelta(microseconds=999999))),
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
        {"args": [{"_aj": ["datetime"]}], "kwargs": {}},
        {"args": [{"_aj": None}], "kwargs": {}},
        {"args": [{"_aj": "datetime", "value": "2026-01-01T00:00:00", "zone": "No/Such_Zone"}], "kwargs": {}},
        {"args": [{"_aj": "datetime", "value": "2026-01-01T00:00:00", "zone": "../../etc/passwd"}], "kwargs": {}},
        {"args": [{"_aj": "time", "value": "08:00:00", "zone": 7}], "kwargs": {}},
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


def test_fold_and_skipped_wall_time_kept():
    repeated = datetime.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)
    skipped = datetime.datetime(2026, 3, 29, 2, 30, tzinfo=BERLIN)
    naive = datetime.datetime(2026, 10, 25, 2, 30, fold=1)
    clock = datetime.time(2, 30, fold=1)

    (repeated_back, skipped_back, naive_back, clock_back), _ = round_trip(repeated, skipped, naive, clock)

    assert (repeated_back.fold, repeated_back.utcoffset()) == (1, datetime.timedelta(hours=1))
    assert (skipped_back.hour, skipped_back.minute, skipped_back.tzinfo) == (2, 30, BERLIN)
    assert skipped_back.utcoffset() == skipped.utcoffset()
    assert naive_back.fold == 1
    assert clock_back.fold == 1


def test_datetime_without_fold_field_keeps_instant():
    # An ambiguous time stored with the offset of its second occurrence but
    # no "fold" field, as versions before the field existed wrote it.
    data = {"args": [{"_aj": "datetime", "value": "2026-10-25T02:30:00+01:00", "zone": "Europe/Berlin"}], "kwargs": {}}

    [value], _ = deserialize_arguments(data)

    assert value.astimezone(datetime.UTC) == datetime.datetime(2026, 10, 25, 1, 30, tzinfo=datetime.UTC)
    assert (value.hour, value.fold, value.tzinfo) == (2, 1, BERLIN)


def test_zoneinfo_time_keeps_zone():
    data = serialize_arguments([datetime.time(8, 0, tzinfo=BERLIN)], {})

    assert data["args"] == [{"_aj": "time", "value": "08:00:00", "zone": "Europe/Berlin"}]


def test_zone_without_key_keeps_offset():
    # ZoneInfo.from_file gives a zone whose key is None, so only its offset can be stored.
    path = next(
        (os.path.join(directory, "Europe/Berlin") for directory in zoneinfo.TZPATH
         if os.path.exists(os.path.join(directory, "Europe/Berlin"))),
        None,
    )
    if path is None:
        pytest.skip("no Europe/Berlin file in zoneinfo.TZPATH")
    with open(path, "rb") as file:
        zone = zoneinfo.ZoneInfo.from_file(file)
    value = datetime.datetime(2026, 7, 1, 12, 0, tzinfo=zone)

    (back,), _ = round_trip(value)

    assert back == value
    assert back.utcoffset() == datetime.timedelta(hours=2)


def test_int_within_digit_limit_round_trips():
    value = int("9" * 4300)

    (back,), _ = round_trip(value)

    assert back == value


def test_int_over_digit_limit_rejected():
    with pytest.raises(SerializationError) as raised:
        serialize_arguments([[10**4300]], {})

    assert str(raised.value) == (
        "Can't serialize positional argument 0[0]: the int has more than 4300 digits, which is "
        "Python's limit for converting an int to text, so it can't be stored as JSON. Pass "
        "hex(value) and convert it back with int(text, 16)."
    )


# Custom serializers. The classes below are registered by dotted path, so they
# live at module level.


@dataclasses.dataclass(frozen=True)
class Money:
    amount: decimal.Decimal
    currency: str


class MoneySerializer(ArgumentSerializer):
    tag = "money"
    types = (Money,)

    def serialize(self, value, serialize_nested):
        if len(value.currency) != 3:
            raise ValueError(f"currency {value.currency!r} is not an ISO 4217 code")
        return {"amount": serialize_nested(value.amount, ".amount"), "currency": value.currency}

    def deserialize(self, data, deserialize_nested):
        return Money(deserialize_nested(data["amount"]), data["currency"])


class Percent(decimal.Decimal):
    """A Decimal subclass, to show that project serializers are tried before the built-ins."""


class PercentSerializer(ArgumentSerializer):
    tag = "percent"
    types = (Percent,)

    def serialize(self, value, serialize_nested):
        return {"value": str(value)}

    def deserialize(self, data, deserialize_nested):
        return Percent(data["value"])


class Color(enum.IntEnum):
    RED = 1
    GREEN = 2


class ColorSerializer(ArgumentSerializer):
    tag = "color"
    types = (Color,)

    def serialize(self, value, serialize_nested):
        return {"name": value.name}

    def deserialize(self, data, deserialize_nested):
        return Color[data["name"]]


class Returns:
    """A value whose serializer returns ``data`` unchanged."""

    def __init__(self, data):
        self.data = data


class ReturnsSerializer(ArgumentSerializer):
    tag = "returns"
    types = (Returns,)

    def serialize(self, value, serialize_nested):
        return value.data

    def deserialize(self, data, deserialize_nested):
        return Returns(data)


class Fails:
    pass


class FailsSerializer(ArgumentSerializer):
    """Raises the exception named in the stored data when deserializing."""

    tag = "fails"
    types = (Fails,)

    def serialize(self, value, serialize_nested):
        return {"error": "KeyError"}

    def deserialize(self, data, deserialize_nested):
        errors = {
            "KeyError": KeyError, "IndexError": IndexError, "TypeError": TypeError,
            "ValueError": ValueError, "DatabaseError": DatabaseError, "RuntimeError": RuntimeError,
        }
        raise errors[data["error"]]("deserialize failed")


class OtherMoneySerializer(MoneySerializer):
    pass


class DecimalClashSerializer(serializers.DecimalSerializer):
    pass


class EmptyTagSerializer(ArgumentSerializer):
    types = (Money,)


class BadTypesSerializer(ArgumentSerializer):
    tag = "bad-types"
    types = Money


class NeedsArgumentSerializer(ArgumentSerializer):
    tag = "needs-argument"

    def __init__(self, currency):
        self.currency = currency


MONEY = f"{__name__}.MoneySerializer"
PERCENT = f"{__name__}.PercentSerializer"
COLOR = f"{__name__}.ColorSerializer"
RETURNS = f"{__name__}.ReturnsSerializer"
FAILS = f"{__name__}.FailsSerializer"
PRICE = Money(decimal.Decimal("9.99"), "EUR")


def serializers(*paths):
    """Override ACTIVEJOB["SERIALIZERS"], keeping the other test settings."""
    return override_settings(ACTIVEJOB={**settings.ACTIVEJOB, "SERIALIZERS": list(paths)})


def test_custom_serializer_stored_form():
    with serializers(MONEY):
        data = serialize_arguments([PRICE], {})

    assert data["args"] == [
        {"_aj": "money", "amount": {"_aj": "decimal", "value": "9.99"}, "currency": "EUR"}
    ]


def test_custom_serializer_round_trips_nested():
    value = {"lines": [(PRICE, 2)], "total": Money(decimal.Decimal("19.98"), "EUR")}

    with serializers(MONEY):
        (back,), kwargs = round_trip(value, price=PRICE)

    assert back == value
    assert type(back["lines"][0]) is tuple
    assert kwargs == {"price": PRICE}


def test_custom_serializer_value_error_names_path():
    with serializers(MONEY), pytest.raises(SerializationError) as raised:
        serialize_arguments([], {"refund": [Money(decimal.Decimal(1), "euro")]})

    assert str(raised.value) == (
        "Can't serialize keyword argument 'refund'[0]: currency 'euro' is not an ISO 4217 code"
    )


def test_custom_serializer_nested_error_names_path():
    with serializers(MONEY), pytest.raises(SerializationError) as raised:
        serialize_arguments([Money(object(), "EUR")], {})

    assert str(raised.value).startswith(
        "Can't serialize positional argument 0.amount: values of type builtins.object are not supported."
    )


def test_custom_serializer_tried_before_builtin():
    with serializers(PERCENT):
        data = serialize_arguments([Percent("12.5")], {})
        (back,), _ = round_trip(Percent("12.5"))

    assert data["args"] == [{"_aj": "percent", "value": "12.5"}]
    assert type(back) is Percent


def test_decimal_subclass_without_serializer_becomes_decimal():
    (back,), _ = round_trip(Percent("12.5"))

    assert back == decimal.Decimal("12.5")
    assert type(back) is decimal.Decimal


def test_int_subclass_reaches_custom_serializer():
    with serializers(COLOR):
        data = serialize_arguments([Color.GREEN], {})
        (back,), _ = round_trip(Color.GREEN)

    assert data["args"] == [{"_aj": "color", "name": "GREEN"}]
    assert back is Color.GREEN


def test_int_subclass_without_serializer_is_int():
    data = serialize_arguments([Color.GREEN], {})

    assert data["args"] == [2]
    assert type(data["args"][0]) is int


def test_registered_serializers_order():
    with serializers(MONEY, COLOR):
        tags = [serializer.tag for serializer in registered_serializers()]

    assert tags == [
        "money", "color", "datetime", "date", "time", "timedelta", "decimal", "uuid", "tuple",
        "model", "float",
    ]


def test_registry_cached_until_settings_change():
    with serializers(MONEY):
        with mock.patch.object(serialization, "import_string", wraps=serialization.import_string) as imports:
            first = registered_serializers()
            serialize_arguments([PRICE, PRICE], {"when": datetime.date(2026, 1, 1)})
            second = registered_serializers()

        assert imports.call_count == len(serialization.BUILTIN_SERIALIZERS) + 1
        assert first is second

    assert "money" not in [serializer.tag for serializer in registered_serializers()]


def test_unregistered_tag_raises_invalid_payload():
    with serializers(MONEY):
        data = serialize_arguments([PRICE], {})

    with pytest.raises(InvalidPayloadError) as raised:
        deserialize_arguments(data)

    assert str(raised.value) == (
        "Unknown argument type tag 'money': no registered serializer uses it. Add the serializer "
        "that wrote it to ACTIVEJOB['SERIALIZERS'] in the worker's settings."
    )


def test_serializer_returning_reserved_key_rejected():
    with serializers(RETURNS), pytest.raises(SerializationError) as raised:
        serialize_arguments([Returns({"_aj": "decimal", "value": "1"})], {})

    assert str(raised.value) == (
        f"Can't serialize positional argument 0: {RETURNS}.serialize returned a dict with the "
        f"key '_aj', which is reserved for the type tag. Rename that key."
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"amount": decimal.Decimal("1")}, "data['amount'] of type decimal.Decimal"),
        ({"items": [1, (2, 3)]}, "data['items'][1] of type builtins.tuple"),
        ({"ratio": float("nan")}, "data['ratio'] = nan, which JSON has no number for"),
        ({"by_id": {1: "one"}}, "data['by_id'] with the key 1 of type int"),
        ({"size": 10**4300}, "data['size'], an int too long to convert to text"),
    ],
)
def test_serializer_returning_non_json_rejected(data, problem):
    with serializers(RETURNS), pytest.raises(SerializationError) as raised:
        serialize_arguments([Returns(data)], {})

    assert str(raised.value) == (
        f"Can't serialize positional argument 0: {RETURNS}.serialize returned {problem}. Return "
        f"only None, bool, int, finite float, str, list and dict with str keys, and pass other "
        f"values through serialize_nested."
    )


def test_serializer_returning_non_dict_rejected():
    with serializers(RETURNS), pytest.raises(SerializationError) as raised:
        serialize_arguments([Returns(["a", "list"])], {})

    assert str(raised.value) == (
        f"Can't serialize positional argument 0: {RETURNS}.serialize returned list, not a dict."
    )


@pytest.mark.parametrize("error", ["KeyError", "IndexError", "TypeError", "ValueError"])
def test_deserialize_error_becomes_invalid_payload(error):
    data = {"args": [{"_aj": "fails", "error": error}], "kwargs": {}}

    with serializers(FAILS), pytest.raises(InvalidPayloadError) as raised:
        deserialize_arguments(data)

    assert str(raised.value).startswith(
        f"Invalid 'fails' argument {{'_aj': 'fails', 'error': '{error}'}}: {FAILS}.deserialize raised "
    )
    assert type(raised.value.__cause__).__name__ == error


@pytest.mark.parametrize("error", [DatabaseError, RuntimeError])
def test_other_deserialize_errors_pass_through(error):
    data = {"args": [[{"_aj": "fails", "error": error.__name__}]], "kwargs": {}}

    with serializers(FAILS), pytest.raises(error) as raised:
        deserialize_arguments(data)

    assert type(raised.value) is error


@pytest.mark.parametrize(
    ("setting", "message", "hint"),
    [
        (
            MONEY,
            "ACTIVEJOB['SERIALIZERS'] must be a list of dotted paths, not str.",
            "Set it to a list such as ['myapp.serializers.MoneySerializer'].",
        ),
        (
            [42],
            "ACTIVEJOB['SERIALIZERS'] contains 42, which is not a dotted path.",
            "List each serializer as a str such as 'myapp.serializers.MoneySerializer'.",
        ),
        (
            ["tests.no_such_module.MoneySerializer"],
            "Serializer 'tests.no_such_module.MoneySerializer' in ACTIVEJOB['SERIALIZERS'] can't be "
            "imported: No module named 'tests.no_such_module'.",
            "Fix the module path or class name, or remove the entry.",
        ),
        (
            [f"{__name__}.Money"],
            f"Serializer '{__name__}.Money' in ACTIVEJOB['SERIALIZERS'] is not an ArgumentSerializer subclass.",
            "Point the entry at a subclass of django_activejob.serialization.ArgumentSerializer.",
        ),
        (
            [f"{__name__}.NeedsArgumentSerializer"],
            f"Serializer '{__name__}.NeedsArgumentSerializer' in ACTIVEJOB['SERIALIZERS'] can't be "
            f"instantiated without arguments: NeedsArgumentSerializer.__init__() missing 1 required "
            f"positional argument: 'currency'.",
            "Give its __init__ no required parameters.",
        ),
        (
            [f"{__name__}.EmptyTagSerializer"],
            f"Serializer '{__name__}.EmptyTagSerializer' in ACTIVEJOB['SERIALIZERS'] has the invalid tag ''.",
            "Set the class attribute tag to a non-empty str, such as 'money'.",
        ),
        (
            [f"{__name__}.BadTypesSerializer"],
            f"Serializer '{__name__}.BadTypesSerializer' in ACTIVEJOB['SERIALIZERS'] has invalid types "
            f"<class '{__name__}.Money'>.",
            "Set the class attribute types to a tuple of classes, such as (Money,).",
        ),
        (
            [MONEY, MONEY],
            f"Serializer '{MONEY}' is listed more than once in ACTIVEJOB['SERIALIZERS'].",
            "Remove the duplicate entry.",
        ),
        (
            [MONEY, f"{__name__}.OtherMoneySerializer"],
            f"Serializer '{__name__}.OtherMoneySerializer' in ACTIVEJOB['SERIALIZERS'] has the tag "
            f"'money', which the serializer '{MONEY}' already uses.",
            "Give each serializer its own tag. Stored jobs name their serializer by tag, so rename "
            "only a tag that no queued job uses yet.",
        ),
        (
            [f"{__name__}.DecimalClashSerializer"],
            f"Serializer '{__name__}.DecimalClashSerializer' in ACTIVEJOB['SERIALIZERS'] has the tag "
            f"'decimal', which the built-in serializer 'django_activejob.serializers.DecimalSerializer' "
            f"already uses.",
            "Give each serializer its own tag. Stored jobs name their serializer by tag, so rename "
            "only a tag that no queued job uses yet.",
        ),
        (
            ["django_activejob.serializers.DecimalSerializer"],
            "Serializer 'django_activejob.serializers.DecimalSerializer' in ACTIVEJOB['SERIALIZERS'] "
            "is built in and always registered.",
            "Remove the entry.",
        ),
    ],
)
def test_invalid_serializer_setting(setting, message, hint):
    with override_settings(ACTIVEJOB={**settings.ACTIVEJOB, "SERIALIZERS": setting}):
        errors = check_serializers()
        with pytest.raises(ImproperlyConfigured) as raised:
            serialize_arguments([decimal.Decimal("1")], {})

    assert [(error.id, error.msg, error.hint) for error in errors] == [("activejob.E006", message, hint)]
    assert str(raised.value) == f"{message} {hint}"


def test_every_invalid_serializer_reported():
    with serializers(MONEY, "tests.no_such_module.Serializer", MONEY, f"{__name__}.Money"):
        errors = check_serializers()

    assert [error.id for error in errors] == ["activejob.E006"] * 3
    assert "can't be imported" in errors[0].msg
    assert "listed more than once" in errors[1].msg
    assert "not an ArgumentSerializer subclass" in errors[2].msg


def test_valid_serializer_setting_passes_check():
    with serializers(MONEY, PERCENT, COLOR):
        assert check_serializers() == []
    assert check_serializers() == []


def test_serializer_check_runs_through_framework():
    with serializers("tests.no_such_module.Serializer"):
        ids = [error.id for error in checks.run_checks()]

    assert "activejob.E006" in ids


def test_invalid_setting_not_cached():
    with serializers("tests.no_such_module.Serializer"), pytest.raises(ImproperlyConfigured):
        serialize_arguments([PRICE], {})

    with serializers(MONEY):
        assert serialize_arguments([PRICE], {})["args"][0]["_aj"] == "money"


@pytest.fixture
def clear_echoed():
    echoed.clear()
    yield
    echoed.clear()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clear_echoed")
def test_worker_performs_job_with_custom_argument():
    with serializers(MONEY):
        job = EchoJob.perform_later([PRICE], total=Money(decimal.Decimal("-0.00"), "JPY"))
        Worker(WorkerOptions(identifier="serializers-test")).work_off()

    assert echoed == [(([PRICE],), {"total": Money(decimal.Decimal("-0.00"), "JPY")})]
    assert str(echoed[0][1]["total"].amount) == "-0.00"
    assert not DelayedJob.objects.filter(pk=job.provider_job_id).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clear_echoed")
def test_worker_without_serializer_fails_job_permanently():
    with serializers(MONEY):
        job = EchoJob.perform_later(PRICE)

    Worker(WorkerOptions(identifier="serializers-test")).work_off()

    row = DelayedJob.objects.get(pk=job.provider_job_id)
    assert row.failed_at is not None
    assert row.attempts == 1
    assert row.last_error.startswith(
        "django_activejob.exceptions.InvalidPayloadError: Unknown argument type tag 'money'"
    )
    assert echoed == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clear_echoed")
def test_worker_fails_malformed_custom_argument_permanently():
    with serializers(FAILS):
        job = EchoJob.perform_later(Fails())
        Worker(WorkerOptions(identifier="serializers-test")).work_off()

    row = DelayedJob.objects.get(pk=job.provider_job_id)
    assert row.failed_at is not None
    assert row.attempts == 1
    assert row.last_error.startswith("django_activejob.exceptions.InvalidPayloadError: Invalid 'fails' argument")
    assert echoed == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clear_echoed")
def test_inline_adapter_uses_custom_serializer():
    with serializers(MONEY):
        InlineEchoJob.perform_later(PRICE)

    assert echoed == [((PRICE,), {})]
