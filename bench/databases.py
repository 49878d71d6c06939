"""The benchmark databases: their settings, creation, migration and versions.

Each database is the benchmark's own, so clearing its tables between runs
touches nothing else. The module imports no third-party package at import
time, so bench/run.py can validate names before its virtualenv exists.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

#: Display names of the databases that ``--databases`` accepts, in run order.
LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mariadb": "MariaDB"}

#: Server databases; bench/run.py creates them when missing. SQLite gets a file in a temporary directory.
SERVER_URLS = {
    "postgres": "postgres://postgres@127.0.0.1:5432/activejob_bench",
    "mariadb": "mysql://root@127.0.0.1:3306/activejob_bench",
}

#: The SQLite file inside the directory that BENCH_SQLITE_DIR names.
SQLITE_FILE_NAME = "activejob_bench.sqlite3"


def database_settings(name: str, sqlite_dir: str | None) -> dict[str, Any]:
    """Return the DATABASES entry for benchmark database ``name``.

    SQLite gets the options the demo project recommends for a queue shared
    by processes: WAL, a 20 s busy timeout and IMMEDIATE transactions.
    """
    import environ

    if name == "sqlite":
        if not sqlite_dir:
            raise ValueError(
                "BENCH_SQLITE_DIR is not set: set it to a writable directory for the SQLite file "
                "(bench/run.py creates a temporary one)."
            )
        config = environ.Env.db_url_config(f"sqlite:///{Path(sqlite_dir) / SQLITE_FILE_NAME}")
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
        return config
    if name not in SERVER_URLS:
        raise ValueError(f"Unknown benchmark database {name!r}: use one of {', '.join(LABELS)}.")

    config = environ.Env.db_url_config(SERVER_URLS[name])
    if name == "mariadb":
        config["OPTIONS"] = {"charset": "utf8mb4"}
    return config


class DatabaseUnavailableError(Exception):
    """The database server can't be reached, or the benchmark database can't be created on it."""


def create_database(config: dict[str, Any]) -> None:
    """Create the server database that ``config`` names unless it exists; SQLite needs nothing.

    Raises DatabaseUnavailableError when the server rejects the connection or the CREATE.
    """
    engine = config["ENGINE"]
    if engine.endswith("postgresql"):
        import psycopg

        driver_error: type[Exception] = psycopg.Error
        create = _create_postgres_database
    elif engine.endswith("mysql"):
        import MySQLdb

        driver_error = MySQLdb.Error
        create = _create_mariadb_database
    else:
        return

    try:
        create(config)
    except driver_error as exc:
        address = f"{config['USER']}@{config['HOST']}:{config['PORT']}"
        raise DatabaseUnavailableError(
            f"Could not create database {config['NAME']!r} as {address}: {exc}".rstrip()
            + "\nStart the server, or leave this database out of --databases."
        ) from exc


def _create_postgres_database(config: dict[str, Any]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=config["HOST"], port=config["PORT"] or 5432, user=config["USER"],
        password=config["PASSWORD"] or None, dbname="postgres", autocommit=True,
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))


def _create_mariadb_database(config: dict[str, Any]) -> None:
    import MySQLdb

    connection = MySQLdb.connect(
        host=config["HOST"], port=int(config["PORT"] or 3306), user=config["USER"],
        password=config["PASSWORD"] or "",
    )
    try:
        name = config["NAME"].replace("`", "``")
        connection.cursor().execute(
            f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    finally:
        connection.close()


def migrate() -> None:
    """Apply every migration to the default database, including PostgreSQL's NOTIFY triggers."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def clear_queue() -> None:
    """Empty the job, worker and throughput tables, so every run starts from the same state.

    PostgreSQL gets TRUNCATE: deleted rows stay in the table as dead tuples
    until a VACUUM, and reserve queries walk past them, so each run would
    start slower than the one before wherever autovacuum is off or behind.
    """
    from django.db import connection

    from django_activejob.models import DelayedJob, QueueStat, WorkerProcess

    models = (DelayedJob, WorkerProcess, QueueStat)
    if connection.vendor == "postgresql":
        tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in models)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables}")
        return
    for model in models:
        model.objects.all().delete()


def server_version() -> str:
    """Return the version of the default database's server, or of the SQLite library."""
    from django.db import connection

    if connection.vendor == "sqlite":
        return sqlite3.sqlite_version
    query = "SHOW server_version" if connection.vendor == "postgresql" else "SELECT VERSION()"
    with connection.cursor() as cursor:
        cursor.execute(query)
        return str(cursor.fetchone()[0])
