"""Property-based tests of argument serialization, generated with hypothesis.

Values go through the same JSON text that the database adapter stores, so
these tests also cover json.dumps and json.loads. Equality is checked with
assert_same, which is stricter than ``==``: it also compares types, the sign
of zero, NaN, Decimal exponents, tzinfo and fold.
"""

import datetime
import decimal
import json
import math
import sys

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_activejob.exceptions import SerializationError
from django_activejob.models import DelayedJob
from django_activejob.serialization import TYPE_KEY, deserialize_arguments, serialize_arguments
from tests.testapp.jobs import EchoJob

# .ci/run runs the whole suite six times (three databases, two Django series),
# so each property stops at 200 examples.
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)

# The largest int that Python still converts to text: sys.get_int_max_str_digits() nines.
MAX_DIGITS_INT = 10 ** sys.get_int_max_str_digits() - 1

# Surrogates are included: ASCII JSON escapes a lone one, and json.loads restores it.
any_character = st.characters(exclude_categories=())
non_bmp_character = st.characters(min_codepoint=0x10000)
texts = st.text(st.one_of(any_character, non_bmp_character), max_size=12)
keys = texts.filter(lambda key: key != TYPE_KEY)

# datetime.timezone accepts offsets strictly between -24 h and 24 h, down to the microsecond.
fixed_offsets = st.timedeltas(
    min_value=-datetime.timedelta(hours=24) + datetime.timedelta(microseconds=1),
    max_value=datetime.timedelta(hours=24) - datetime.timedelta(microseconds=1),
).map(datetime.timezone)
time_zones = st.one_of(st.none(), st.timezones(), fixed_offsets, st.just(datetime.UTC))


def with_fold(strategy):
    return st.builds(lambda value, fold: value.replace(fold=fold), strategy, st.integers(0, 1))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-MAX_DIGITS_INT, max_value=MAX_DIGITS_INT),
    st.floats(),
    texts,
    # Imaginary times, which a zone skips, are generated too.
    with_fold(st.datetimes(timezones=time_zones)),
    st.dates(),
    with_fold(st.times(timezones=time_zones)),
    st.timedeltas(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.uuids(allow_nil=True),
)

values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=12,
)


def json_round_trip(args, kwargs):
    """Serialize through ASCII JSON text without NaN literals, as the database adapter does."""
    text = json.dumps(serialize_arguments(args, kwargs), ensure_ascii=True, allow_nan=False)
    return text, deserialize_arguments(json.loads(text))


def assert_same(actual, expected, path="value"):
    """Assert that ``actual`` equals ``expected`` and has the same types, recursively."""
    assert type(actual) is type(expected), f"{path}: {type(actual)} is not {type(expected)}"

    if isinstance(expected, float):
        if math.isnan(expected):
            assert math.isnan(actual), path
        else:
            assert actual == expected, path
            assert math.copysign(1, actual) == math.copysign(1, expected), f"{path}: sign of zero"
    elif isinstance(expected, decimal.Decimal):
        # Decimal("NaN") != Decimal("NaN"), and comparing sNaN raises, so compare the digits.
        assert actual.as_tuple() == expected.as_tuple(), path
    elif isinstance(expected, (datetime.datetime, datetime.time)):
        assert actual == expected, path
        assert actual.replace(tzinfo=None) == expected.replace(tzinfo=None), f"{path}: wall time"
        assert actual.tzinfo == expected.tzinfo, f"{path}: tzinfo"
        assert actual.fold == expected.fold, f"{path}: fold"
        assert actual.utcoffset() == expected.utcoffset(), f"{path}: UTC offset"
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), path
        for i, (actual_item, expected_item) in enumerate(zip(actual, expected, strict=True)):
            assert_same(actual_item, expected_item, f"{path}[{i}]")
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), f"{path}: keys"
        for key, expected_item in expected.items():
            assert_same(actual[key], expected_item, f"{path}[{key!r}]")
    else:
        assert actual == expected, path


@PROPERTY_SETTINGS
@given(values)
def test_value_round_trips_through_json(value):
    _, (args, kwargs) = json_round_trip([value], {"keyword": value})

    assert_same(args, [value])
    assert_same(kwargs, {"keyword": value})


@PROPERTY_SETTINGS
@given(st.lists(values, max_size=3), st.dictionaries(texts, values, max_size=3))
def test_arguments_round_trip_through_json(args, kwargs):
    _, (args_back, kwargs_back) = json_round_trip(args, kwargs)

    assert_same(args_back, args)
    assert_same(kwargs_back, kwargs)


@PROPERTY_SETTINGS
@given(values)
def test_json_text_is_ascii(value):
    text, _ = json_round_trip([value], {})

    assert text.isascii()


def reserved_dict(items, tag_value, first):
    """Build a dict that has the reserved key, before or after the other keys."""
    if first:
        return {TYPE_KEY: tag_value, **items}
    return {**items, TYPE_KEY: tag_value}


def containers_around(inner):
    """Wrap each value of ``inner`` in a list, tuple or dict among other values."""
    siblings = st.lists(values, max_size=2)
    return st.one_of(
        st.builds(lambda before, item, after: [*before, item, *after], siblings, inner, siblings),
        st.builds(lambda before, item, after: (*before, item, *after), siblings, inner, siblings),
        st.builds(lambda others, key, item: {**others, key: item}, st.dictionaries(keys, values, max_size=2), keys, inner),
    )


# Every generated value contains at least one dict with the reserved key, at any depth.
values_with_reserved_key = st.recursive(
    st.builds(reserved_dict, st.dictionaries(keys, values, max_size=2), values, st.booleans()),
    containers_around,
    max_leaves=4,
)


@PROPERTY_SETTINGS
@given(values_with_reserved_key, st.booleans())
def test_reserved_key_anywhere_rejected(value, as_keyword):
    args, kwargs = ([], {"options": value}) if as_keyword else ([value], {})

    with pytest.raises(SerializationError) as raised:
        serialize_arguments(args, kwargs)

    assert f"the dict key {TYPE_KEY!r} is reserved" in str(raised.value)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_value_round_trips_through_database(value):
    # Each example inserts a real row and reads its handler back, then rolls
    # back, so the database's text column and character set are covered too.
    with transaction.atomic():
        job = EchoJob.perform_later(value)
        handler = DelayedJob.objects.get(pk=job.provider_job_id).handler
        transaction.set_rollback(True)

    assert handler.isascii()
    args, _ = deserialize_arguments(json.loads(handler)["arguments"])
    assert_same(args, [value])
