"""Addresses of the PostgreSQL and Redis servers that the peers use (standard library only).

PEERS_POSTGRES_PORT and PEERS_REDIS_PORT override the ports, so the error
path for a server that is down can be tried against a closed port.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg
    import redis

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = int(os.environ.get("PEERS_POSTGRES_PORT", "5432"))
POSTGRES_USER = "postgres"
#: The only database the peers and the ceiling create tables in.
POSTGRES_DATABASE = "activejob_peers"
POSTGRES_URL = f"postgresql://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DATABASE}"

REDIS_HOST = "127.0.0.1"
REDIS_PORT = int(os.environ.get("PEERS_REDIS_PORT", "6379"))
#: The only Redis database the peers write to; resets run FLUSHDB on it, never FLUSHALL.
REDIS_DATABASE = 9
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DATABASE}"


class ServerError(Exception):
    """A server the peers need is down or rejected the connection; the message names the fix."""


def connect_postgres(database: str = POSTGRES_DATABASE) -> psycopg.Connection[Any]:
    """Open an autocommit psycopg connection; raise ServerError when PostgreSQL is not reachable."""
    import psycopg

    try:
        return psycopg.connect(host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER,
                               dbname=database, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ServerError(
            f"PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT} (user {POSTGRES_USER}, database {database}) "
            f"refused the connection or the login: start PostgreSQL and allow trust login for "
            f"{POSTGRES_USER} from {POSTGRES_HOST} ({first_line})"
        ) from error


def ensure_postgres_database() -> None:
    """Create the database POSTGRES_DATABASE unless it exists; no other database is touched."""
    from psycopg import sql

    with connect_postgres("postgres") as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [POSTGRES_DATABASE]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(POSTGRES_DATABASE)))


def connect_redis() -> redis.Redis:
    """Return a client for REDIS_DATABASE after a PING; raise ServerError when Redis is not reachable."""
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DATABASE, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError as error:
        raise ServerError(
            f"Redis at {REDIS_HOST}:{REDIS_PORT} refused the connection: start redis-server ({error})"
        ) from error
    return client
