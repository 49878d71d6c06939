import pytest
from django.core import checks
from django.db import connection
from django.test import override_settings

from django_activejob import conf
from django_activejob.checks import check_mysql_charset, check_settings


def messages(**activejob):
    with override_settings(ACTIVEJOB=activejob):
        return [(error.id, error.msg, error.hint) for error in check_settings()]


def test_default_settings_pass():
    assert messages() == []


def test_unknown_key_reported():
    [(error_id, message, hint)] = messages(MAX_ATEMPTS=3)

    assert error_id == "activejob.E002"
    assert message == "ACTIVEJOB['MAX_ATEMPTS'] is not a known setting."
    assert hint == f"Did you mean 'MAX_ATTEMPTS'? Remove it, or use one of: {', '.join(sorted(conf.DEFAULTS))}."


def test_unknown_key_without_close_match():
    [(_, _, hint)] = messages(COLOUR="blue")

    assert hint.startswith("Remove it, or use one of: ")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MAX_ATTEMPTS", 0, "an int of 1 or more"),
        ("MAX_ATTEMPTS", "25", "an int of 1 or more"),
        ("READ_AHEAD", True, "an int of 1 or more, or None for batches sized by the worker"),
        ("READ_AHEAD", 0, "an int of 1 or more, or None for batches sized by the worker"),
        ("SLEEP_DELAY", 0, "a number of seconds greater than 0 and less than 86400"),
        ("SLEEP_DELAY", float("nan"), "a number of seconds greater than 0 and less than 86400"),
        ("SLEEP_DELAY", 1e10, "a number of seconds greater than 0 and less than 86400"),
        ("MAX_RUN_TIME", float("inf"), "a number of seconds greater than 0 and less than 1e+09"),
        ("MAX_RUN_TIME", -1, "a number of seconds greater than 0 and less than 1e+09"),
        ("DESTROY_FAILED_JOBS", "yes", "True or False"),
        ("DEFAULT_PRIORITY", 1.5, "an int from -2147483648 to 2147483647"),
        ("DEFAULT_PRIORITY", 2**31, "an int from -2147483648 to 2147483647"),
        ("DATABASE", "jobs", "an alias from DATABASES"),
        ("LOG_ARGUMENTS", "no", "True or False"),
        ("ENQUEUE_AFTER_TRANSACTION_COMMIT", "always", "'auto', True or False"),
        ("QUEUE_NAME_PREFIX", "a,b", "a str without commas or surrounding whitespace"),
    ],
)
def test_invalid_value_reported(name, value, expected):
    assert messages(**{name: value}) == [
        ("activejob.E003", f"ACTIVEJOB[{name!r}] = {value!r} is invalid.", f"Set it to {expected}.")
    ]


def test_bad_adapter_and_queue_reported():
    found = messages(QUEUE_ADAPTER="celery", DEFAULT_QUEUE_NAME="a,b")

    assert [item[0] for item in found] == ["activejob.E004", "activejob.E005"]
    assert "Queue adapter 'celery' is invalid" in found[1][1]


def test_checks_run_through_framework():
    with override_settings(ACTIVEJOB={"READ_AHEAD": 0}):
        ids = [error.id for error in checks.run_checks()]

    assert "activejob.E003" in ids


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "mysql", reason="MySQL character sets")
def test_mysql_utf8mb3_table_warned():
    table = "django_activejob_delayedjob"
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci")
    try:
        warnings = check_mysql_charset(databases=["default"])
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            cursor.execute(
                f"ALTER TABLE {table} MODIFY queue varchar(255) CHARACTER SET utf8mb4 "
                f"COLLATE utf8mb4_bin NOT NULL"
            )

    assert [warning.id for warning in warnings] == ["activejob.W001"]
    assert "uses the utf8mb3 character set" in warnings[0].msg
    assert check_mysql_charset(databases=["default"]) == []
