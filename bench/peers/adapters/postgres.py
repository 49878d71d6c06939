"""The part of the PostgreSQL adapters that polls and clears tables over a psycopg connection."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from bench.peers import servers
from bench.peers.adapters import Adapter


class PostgresAdapter(Adapter):
    store = "PostgreSQL"

    def __init__(self) -> None:
        self.poll_connection: Any = None

    def connect_poll(self) -> None:
        servers.ensure_postgres_database()
        self.poll_connection = servers.connect_postgres()

    def scalar(self, query: str, parameters: list[Any] | None = None) -> Any:
        row = self.poll_connection.execute(query, parameters or []).fetchone()
        return row[0] if row else None

    def truncate(self, tables: list[str]) -> None:
        statement = sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
            sql.SQL(", ").join(sql.Identifier(table) for table in tables)
        )
        self.poll_connection.execute(statement)

    def close(self) -> None:
        if self.poll_connection is not None:
            self.poll_connection.close()
