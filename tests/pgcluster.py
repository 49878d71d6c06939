"""A throwaway PostgreSQL cluster that tests may stop, restart and break.

The cluster lives in its own temporary directory (data, unix socket and
server log), listens on 127.0.0.1 only, on a free port other than 5432, and
trusts every local connection. Every pg_ctl call names that data directory,
so nothing here can stop or change the machine's main cluster.

initdb and postgres refuse to run as root, so when the tests run as root the
binaries run as the ``postgres`` OS user through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import pytest
from django.db import connection
from psycopg import sql

#: Where Debian and Ubuntu install the server binaries, one directory per major version.
BIN_DIR_PATTERN = "/usr/lib/postgresql/*/bin"

#: The OS user that runs the server when the tests run as root.
SERVER_OS_USER = "postgres"

#: The port of the machine's main cluster, which this module must never use.
MAIN_CLUSTER_PORT = 5432

#: Seconds pg_ctl waits for the server to start or stop.
PG_CTL_TIMEOUT = 60

#: PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1).
MAX_DATABASE_NAME_BYTES = 63


class PgClusterError(Exception):
    """A pg_ctl, initdb or SQL step of the private cluster failed."""


def find_bin_dir(pattern: str = BIN_DIR_PATTERN) -> Path | None:
    """Return the newest server binary directory that has initdb, pg_ctl and postgres, or None."""
    candidates = []
    for path in glob.glob(pattern):
        directory = Path(path)
        if all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            version = directory.parent.name
            candidates.append((int(version) if version.isdigit() else -1, directory))
    if not candidates:
        return None
    return max(candidates)[1]


def unavailable_reason(pattern: str = BIN_DIR_PATTERN) -> str | None:
    """Return why a private cluster can't run on this machine, or None when it can."""
    if find_bin_dir(pattern) is None:
        return (
            f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) match {pattern}; "
            "install the postgresql server package to run the database fault tests."
        )
    if os.geteuid() != 0:
        return None
    if shutil.which("runuser") is None:
        return (
            "the tests run as root and runuser is missing, so initdb can't run as the "
            f"{SERVER_OS_USER!r} user; install util-linux or run the tests as another user."
        )
    try:
        pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        return (
            f"the tests run as root and there is no {SERVER_OS_USER!r} OS user to run the server; "
            "install the postgresql server package or run the tests as another user."
        )
    return None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port != MAIN_CLUSTER_PORT:
            return port


class PgCluster:
    """A private PostgreSQL cluster in a temporary directory.

    Call start() to create and start it, url() for a DATABASE_URL, stop(),
    start() or restart() to cause an outage, and cleanup() to stop it and
    delete its directory.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.directory = Path(tempfile.mkdtemp(prefix="activejob-pgcluster-"))
        self.data_dir = self.directory / "data"
        self.socket_dir = self.directory / "socket"
        self.log_path = self.directory / "server.log"
        self.port: int | None = None
        self.as_server_user = os.geteuid() == 0
        if self.as_server_user:
            shutil.chown(self.directory, user=SERVER_OS_USER, group=SERVER_OS_USER)

    # Server control

    def start(self) -> None:
        """Start the server, creating the cluster first if it doesn't exist yet."""
        if not self.data_dir.exists():
            self._init()
        self._pg_ctl("start", "-l", str(self.log_path))

    def stop(self) -> None:
        """Stop the server in fast mode: open connections are ended at once."""
        self._pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        """Stop the server in fast mode and start it again on the same port."""
        self.stop()
        self.start()

    def is_running(self) -> bool:
        if not self.data_dir.exists():
            return False
        # pg_ctl status exits 0 when the server runs and 3 when it doesn't.
        return self._run([str(self.bin_dir / "pg_ctl"), "status", "-D", str(self.data_dir)], check=False) == 0

    def cleanup(self) -> None:
        """Stop the server if it runs and delete the cluster directory. A second call does nothing."""
        if self.is_running():
            try:
                self.stop()
            except PgClusterError:
                self._kill_postmaster()
        if self.directory.exists():
            shutil.rmtree(self.directory)

    # Databases

    def url(self, dbname: str, **query: str | int) -> str:
        """Return a DATABASE_URL for ``dbname`` with ``query`` as its query string.

        django-environ moves CONN_MAX_AGE and similar keys from the query
        string into the DATABASES entry and the rest into OPTIONS, for
        example ``url("app", conn_max_age=600, application_name="worker")``.
        """
        validate_database_name(dbname)
        url = f"postgres://postgres@127.0.0.1:{self._port()}/{quote(dbname, safe='')}"
        if query:
            url += "?" + urlencode(query)
        return url

    def connect(self, dbname: str = "postgres", **options: str) -> psycopg.Connection:
        """Open an autocommit psycopg connection to ``dbname`` on this cluster."""
        validate_database_name(dbname)
        return psycopg.connect(
            host="127.0.0.1", port=self._port(), user="postgres", dbname=dbname, autocommit=True,
            connect_timeout=10, **options,
        )

    def create_database(self, name: str) -> None:
        """Create the database ``name``, or raise PgClusterError if it exists or the server rejects it."""
        validate_database_name(name)
        try:
            with self.connect() as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise PgClusterError(f"Could not create database {name!r} on port {self.port}: {exc}") from exc

    # Internals

    def _port(self) -> int:
        if self.port is None:
            raise PgClusterError("The private cluster has no port yet: call start() first.")
        return self.port

    def _init(self) -> None:
        self.port = free_port()
        self.socket_dir.mkdir()
        if self.as_server_user:
            shutil.chown(self.socket_dir, user=SERVER_OS_USER, group=SERVER_OS_USER)
        self._run([
            str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C", "--no-sync",
        ])
        # fsync off: the cluster is thrown away, so crash safety buys nothing.
        settings = (
            "\n# Private test cluster (tests/pgcluster.py)\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{self.socket_dir}'\n"
            "fsync = off\n"
            "synchronous_commit = off\n"
            "full_page_writes = off\n"
        )
        with open(self.data_dir / "postgresql.conf", "a") as config:
            config.write(settings)

    def _pg_ctl(self, action: str, *arguments: str) -> None:
        self._run([
            str(self.bin_dir / "pg_ctl"), action, "-D", str(self.data_dir), "-w", "-t", str(PG_CTL_TIMEOUT),
            *arguments,
        ])

    def _run(self, command: list[str], *, check: bool = True) -> int:
        """Run ``command`` as the server's OS user in the cluster directory and return its exit status."""
        if self.as_server_user:
            command = ["runuser", "-u", SERVER_OS_USER, "--", *command]
        result = subprocess.run(
            command, cwd=self.directory, capture_output=True, text=True,
            timeout=PG_CTL_TIMEOUT + 30,
        )
        if check and result.returncode != 0:
            raise PgClusterError(
                f"{' '.join(command)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
                f"\nServer log {self.log_path}:\n{self._log_tail()}"
            )
        return result.returncode

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _kill_postmaster(self) -> None:
        """Kill this cluster's postmaster by the pid in its own postmaster.pid file."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def validate_database_name(name: str) -> str:
    """Return ``name`` if PostgreSQL would keep it unchanged as a database name, else raise ValueError."""
    if not name or "\x00" in name:
        raise ValueError(f"database name {name!r} is invalid: pass a non-empty name without NUL characters.")
    size = len(name.encode())
    if size > MAX_DATABASE_NAME_BYTES:
        raise ValueError(
            f"database name {name!r} is {size} bytes long; PostgreSQL would truncate it to "
            f"{MAX_DATABASE_NAME_BYTES} bytes, so pass a shorter name."
        )
    return name


@pytest.fixture(scope="module", name="pg_cluster")
def pg_cluster_fixture() -> Iterator[PgCluster]:
    """A started private cluster, shared by the tests of one module and deleted after them.

    Import ``pg_cluster_fixture`` into a test module and request ``pg_cluster``.

    Skipped unless the suite runs on PostgreSQL, so SQLite and MariaDB runs
    don't pay for a second server.
    """
    if connection.vendor != "postgresql":
        pytest.skip(
            "the private PostgreSQL cluster runs only when the suite runs on PostgreSQL "
            "(DATABASE_URL=postgres://...)."
        )
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)

    cluster = PgCluster(find_bin_dir())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()
