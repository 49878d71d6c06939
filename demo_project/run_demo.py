#!/usr/bin/env python3
"""Run the demo blog's sign-up flow end to end, printing each step.

    python3 demo_project/run_demo.py               # sign up, queue, worker, email, confirm
    python3 demo_project/run_demo.py --smtp-down   # the first attempt fails, a retry delivers

Needs Python 3.11 or newer on a POSIX system, and access to PyPI on the first
run. The script creates .venv/ at the repository root, installs the project
there with ``pip install -e '.[demo]'`` (again only when pyproject.toml
changes), and re-executes itself with that virtualenv's python.

Each run uses a new SQLite database in a temporary directory, an SMTP server
and ``manage.py runserver`` on free ports of 127.0.0.1, and removes all of
them at the end. All network traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime
import email
import email.message
import email.policy
import hashlib
import html
import http.client
import http.cookiejar
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo_project.mailserver import SMTPServer, free_port  # noqa: E402 - needs ROOT on sys.path

VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
# Contains the SHA-256 of the pyproject.toml that was last installed into VENV.
INSTALL_STAMP = VENV / ".demo-installed"
# Set before the re-exec, so a virtualenv whose python is not VENV's fails
# with a message instead of re-executing forever.
REEXEC_VARIABLE = "ACTIVEJOB_DEMO_REEXECUTED"

HOST = "127.0.0.1"
JOB_TABLE = "django_activejob_delayedjob"
PASSWORD = "correct-horse-battery-staple"
SERVER_START_TIMEOUT = 30.0
WORKER_TIMEOUT = 120.0
WORKER_COMMAND = ["jobs_worker", "--queue", "default,mailers", "--exit-on-complete", "--sleep-delay", "0.5"]


class DemoError(Exception):
    """A step failed. The message names the step and what to check."""


# Bootstrap: the virtualenv


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Run the demo blog's sign-up flow end to end on a temporary SQLite database."
    )
    parser.add_argument(
        "--smtp-down", action="store_true",
        help="Sign up while the SMTP server is stopped, so the first attempt fails and is retried.",
    )
    options = parser.parse_args(argv)
    # Checked at run time because the script is meant to start with any python3.
    if sys.version_info < (3, 11):  # noqa: UP036
        version = sys.version.split()[0]
        if running_in_virtualenv():
            sys.exit(f"{VENV} uses Python {version}, but 3.11 or newer is required. Delete {VENV} "
                     f"and run this script again with python3.11 or newer.")
        sys.exit(f"Python 3.11 or newer is required. This is {version}.")

    try:
        python = ensure_virtualenv()
        if not running_in_virtualenv():
            reexecute(python, argv)
        Demo(smtp_down=options.smtp_down).run()
    except DemoError as exc:
        print(f"\nDemo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nDemo interrupted.", file=sys.stderr)
        return 130
    return 0


def ensure_virtualenv() -> Path:
    """Create VENV if needed and install the project unless the stamp matches pyproject.toml."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if VENV_PYTHON.exists() and INSTALL_STAMP.exists() and INSTALL_STAMP.read_text().strip() == digest:
        return VENV_PYTHON

    if not VENV_PYTHON.exists():
        print(f"Creating the virtualenv {VENV}", flush=True)
        try:
            venv.create(VENV, with_pip=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise DemoError(
                f"could not create the virtualenv {VENV} ({exc}). On Debian or Ubuntu, "
                f"install the python3-venv package, then delete {VENV} and run this again."
            ) from exc

    print(f"Installing the project into {VENV}: pip install -e '.[demo]'", flush=True)
    result = subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "-e", ".[demo]"], cwd=ROOT
    )
    if result.returncode != 0:
        raise DemoError(
            f"pip install -e '.[demo]' failed with exit status {result.returncode}. Its output is "
            f"above. Check the network access to PyPI, or delete {VENV} and run this again."
        )
    INSTALL_STAMP.write_text(digest)
    return VENV_PYTHON


def running_in_virtualenv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def reexecute(python: Path, argv: list[str]) -> None:
    if os.environ.get(REEXEC_VARIABLE):
        raise DemoError(
            f"re-executing with {python} did not run inside {VENV} (sys.prefix is {sys.prefix}). "
            f"Delete {VENV} and run this again."
        )
    os.environ[REEXEC_VARIABLE] = "1"
    sys.stdout.flush()
    os.execv(python, [str(python), str(Path(__file__).resolve()), *argv])


# Helpers that run inside the virtualenv


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str

    def heading(self) -> str:
        match = re.search(r"<h1>(.*?)</h1>", self.text, re.DOTALL)
        return html.unescape(match.group(1).strip()) if match else "(no <h1> on the page)"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        # Returning None turns a redirect into an HTTPError, so the demo can print it.
        return None


class Browser:
    """An HTTP client with a cookie jar for one site on 127.0.0.1. It does not follow redirects."""

    def __init__(self, site_url: str) -> None:
        self.site_url = site_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            # An empty ProxyHandler ignores http_proxy, so requests go straight to loopback.
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(self.cookies),
            _NoRedirect(),
        )

    def request(self, path_or_url: str, form: dict[str, str] | None = None) -> Response:
        """Send a GET, or a POST of ``form`` url-encoded, and return the response whatever its status."""
        url = path_or_url if path_or_url.startswith("http") else self.site_url + path_or_url
        if not url.startswith(self.site_url + "/"):
            raise DemoError(
                f"rejected the request to {url}: the demo sends requests to {self.site_url} only."
            )
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(urllib.request.Request(url, data=data), timeout=30) as response:
                return Response(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as exc:
            with exc:
                return Response(exc.code, dict(exc.headers), exc.read().decode(errors="replace"))
        except (OSError, http.client.HTTPException) as exc:
            # URLError (connection refused), timeouts and dropped connections.
            raise DemoError(f"the request to {url} failed: {exc!r}.") from exc


def print_heading(number: int, title: str) -> None:
    print(f"\n=== {number}. {title} ===", flush=True)


def print_fields(fields: dict[str, object], indent: str = "  ") -> None:
    width = max(len(name) for name in fields)
    for name, value in fields.items():
        text = "NULL" if value is None else str(value)
        lines = text.splitlines() or [""]
        print(f"{indent}{name:<{width}}  {lines[0]}")
        for line in lines[1:]:
            print(f"{indent}{'':<{width}}  {line}")


# The demo


class Demo:
    """The sign-up story: each method of the form ``step_*`` prints one numbered step."""

    def __init__(self, smtp_down: bool) -> None:
        self.smtp_down = smtp_down
        self.step_number = 0
        self.web_process: subprocess.Popen | None = None
        self.web_log = None

    def step(self, title: str) -> None:
        self.step_number += 1
        print_heading(self.step_number, title)

    def run(self) -> None:
        with tempfile.TemporaryDirectory(prefix="activejob-demo-") as directory:
            self.directory = Path(directory)
            self.database = self.directory / "demo.sqlite3"
            self.smtp = SMTPServer()
            self.site_url = f"http://{HOST}:{free_port()}"
            self.environment = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "demo_project.settings",
                "DATABASE_URL": f"sqlite:///{self.database}",
                "EMAIL_URL": f"smtp://{HOST}:{self.smtp.port}",
                "SITE_URL": self.site_url,
                "ALLOWED_HOSTS": f"{HOST},localhost",
                "ACTIVEJOB_QUEUE_ADAPTER": "database",
                "ACTIVEJOB_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
            self.browser = Browser(self.site_url)
            try:
                self.tell_story()
            finally:
                self.stop_web_server()
                self.smtp.stop()

    def tell_story(self) -> None:
        print(f"Demo of django_activejob: a sign-up whose confirmation email is sent by a worker.\n"
              f"Python: {sys.executable}\nTemporary directory: {self.directory}")
        self.step_migrate()
        self.step_start_smtp()
        self.step_start_web_server()
        self.step_sign_up()
        self.step_show_queue()
        if self.smtp_down:
            self.step_worker_fails()
            self.step_restart_smtp_and_wait()
        self.step_run_worker()
        message = self.step_show_email()
        self.step_confirm(message)
        self.step_welcome_email()
        print("\nDone: the requests only enqueued jobs, and the worker sent the emails.")

    # Steps

    def step_migrate(self) -> None:
        self.step("Create a fresh SQLite database")
        output = self.manage("migrate", "--noinput")
        # migrate prints one "  Applying blog.0001_initial... OK" line per migration.
        applied = re.findall(r"Applying (\w+)\.\w+", output)
        apps = ", ".join(sorted(set(applied)))
        print(f"  {self.database}")
        print(f"  $ manage.py migrate --noinput: applied {len(applied)} migrations ({apps})")

    def step_start_smtp(self) -> None:
        if self.smtp_down:
            self.step("Leave the SMTP server stopped")
            print(f"  EMAIL_URL points at smtp://{HOST}:{self.smtp.port}, where nothing listens yet,")
            print("  so sending the email will fail with ConnectionRefusedError.")
            return
        self.step("Start an SMTP server")
        self.smtp.start()
        print(f"  aiosmtpd listens on {HOST}:{self.smtp.port} and keeps what it receives in memory.")

    def step_start_web_server(self) -> None:
        self.step("Start the web server")
        command = [sys.executable, "manage.py", "runserver", f"{HOST}:{self.site_url.rsplit(':', 1)[1]}",
                   "--noreload"]
        print(f"  $ {' '.join(command[1:])}")
        self.web_log = open(self.directory / "runserver.log", "wb")  # closed in stop_web_server()
        self.web_process = subprocess.Popen(
            command, cwd=ROOT, env=self.environment, stdout=self.web_log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if self.web_process.poll() is not None:
                raise DemoError(
                    f"runserver exited with status {self.web_process.returncode}:\n{self.web_log_tail()}"
                )
            try:
                response = self.browser.request("/")
            except DemoError:
                if time.monotonic() > deadline:
                    raise DemoError(
                        f"runserver did not respond on {self.site_url} within {SERVER_START_TIMEOUT:.0f} s:"
                        f"\n{self.web_log_tail()}"
                    ) from None
                time.sleep(0.2)
                continue
            break
        print(f"  {self.site_url}/ responds {response.status} (pid {self.web_process.pid})")

    def step_sign_up(self) -> None:
        self.step("Sign up through the real view")
        page = self.browser.request("/signup/")
        if page.status != 200:
            raise DemoError(f"GET /signup/ returned {page.status}:\n{self.web_log_tail()}")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if match is None:
            raise DemoError("GET /signup/ returned a page without a csrfmiddlewaretoken field.")
        print(f"  GET  {'/signup/':<14} -> {page.status}, a form with a CSRF token")

        form = {
            "csrfmiddlewaretoken": match.group(1),
            "username": "ada",
            "email": "ada@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        }
        response = self.browser.request("/signup/", form)
        if response.status != 302:
            errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.text, re.DOTALL)
            details = "; ".join(html.unescape(re.sub(r"<[^>]+>", " ", error)).strip() for error in errors)
            raise DemoError(f"POST /signup/ returned {response.status}, not a redirect. {details}")
        location = response.headers.get("Location", "")
        print(f"  POST {'/signup/':<14} -> {response.status}, Location: {location}  "
              f"(username=ada, email=ada@example.com)")

        done = self.browser.request(location)
        print(f"  GET  {location:<14} -> {done.status}, page heading: {done.heading()!r}")

    def step_show_queue(self) -> None:
        self.step("The request only enqueued the job")
        print(f"  Emails received by the SMTP server so far: {len(self.smtp.messages)}")
        if self.smtp.messages:
            raise DemoError("an email was sent during the request. It should come from the worker.")
        self.print_user()
        rows = self.job_rows()
        if len(rows) != 1:
            raise DemoError(f"expected 1 row in {JOB_TABLE}, found {len(rows)}.")
        print(f"\n  The waiting row in {JOB_TABLE}:")
        self.print_job_row(rows[0])

    def step_worker_fails(self) -> None:
        self.step("Run the worker while SMTP is down: the attempt fails")
        self.run_worker()
        rows = self.job_rows()
        if len(rows) != 1 or rows[0]["attempts"] != 1 or not rows[0]["last_error"]:
            found = [dict(row) for row in rows]
            raise DemoError(f"expected 1 row with attempts=1 and a last_error, found {found}.")
        print("\n  The row is back in the queue, with attempts=1, the error, and a later run_at:")
        self.print_job_row(rows[0], show_handler=False)

    def step_restart_smtp_and_wait(self) -> None:
        self.step("Start the SMTP server and wait for run_at")
        self.smtp.start()
        print(f"  aiosmtpd listens on {HOST}:{self.smtp.port} now.")
        run_at = parse_sqlite_datetime(self.job_rows()[0]["run_at"])
        wait = max((run_at - datetime.datetime.now(datetime.UTC)).total_seconds(), 0) + 0.5
        # Waiting, instead of moving run_at with SQL, shows the real retry schedule
        # and leaves the queue table to the library. It costs about 6 seconds.
        print("  The worker takes a row only once its run_at has passed. delayed_job's backoff after")
        print(f"  attempt 1 is 1**4 + 5 = 6 s, so the demo waits {wait:.1f} s instead of editing run_at.")
        time.sleep(wait)

    def step_run_worker(self) -> None:
        self.step("Run the worker until the queue is empty")
        self.run_worker()
        rows = self.job_rows()
        print(f"\n  Rows left in {JOB_TABLE}: {len(rows)}")
        if rows:
            self.print_job_row(rows[0], show_handler=False)
            raise DemoError("the worker exited but the job is still queued. Its last_error is above.")

    def step_show_email(self) -> email.message.EmailMessage:
        self.step("The email the worker sent")
        try:
            messages = self.smtp.wait_for_messages(1, timeout=10)
        except TimeoutError as exc:
            raise DemoError(str(exc)) from exc
        if len(messages) != 1:
            raise DemoError(f"expected 1 email, the SMTP server received {len(messages)}.")
        message = messages[0]
        print_fields({name: message[name] for name in ("From", "To", "Subject", "Date", "Content-Type")})
        parts = ", ".join(part.get_content_type() for part in message.iter_parts())
        print(f"  (parts: {parts})\n")
        for line in text_body(message).rstrip().splitlines():
            print(f"  | {line}")
        return message

    def step_confirm(self, message: email.message.EmailMessage) -> None:
        self.step("Follow the confirmation link")
        match = re.search(re.escape(self.site_url) + r"/confirm/\S+", text_body(message))
        if match is None:
            raise DemoError(f"the email has no link starting with {self.site_url}/confirm/.")
        response = self.browser.request(match.group())
        print(f"  GET {match.group()}")
        print(f"      -> {response.status}, page heading: {response.heading()!r}")
        if response.status != 200:
            raise DemoError(f"the confirmation link returned {response.status}, not 200.")
        self.print_user()
        if not self.query("SELECT is_active FROM auth_user WHERE username = 'ada'")[0]["is_active"]:
            raise DemoError("the confirmation page loaded, but the user is still inactive.")

    def step_welcome_email(self) -> None:
        self.step("The confirmation enqueued a welcome email with deliver_later")
        for row in self.job_rows():
            self.print_job_row(row, show_handler=False)
        self.run_worker()
        try:
            messages = self.smtp.wait_for_messages(2, timeout=10)
        except TimeoutError as exc:
            raise DemoError(str(exc)) from exc
        welcome = messages[1]
        print()
        print_fields({name: welcome[name] for name in ("To", "Subject")})

    # Processes

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.environment,
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise DemoError(
                f"manage.py {' '.join(args)} failed with exit status {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result.stdout

    def run_worker(self) -> None:
        """Run jobs_worker until the queue has no ready job, printing its log lines as they come."""
        print(f"  $ manage.py {' '.join(WORKER_COMMAND)}")
        process = subprocess.Popen(
            [sys.executable, "manage.py", *WORKER_COMMAND], cwd=ROOT, env=self.environment,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        timed_out = threading.Event()

        def kill_after_timeout() -> None:
            timed_out.set()
            process.kill()

        # Kills this worker, by its pid, if it still runs after WORKER_TIMEOUT.
        watchdog = threading.Timer(WORKER_TIMEOUT, kill_after_timeout)
        watchdog.start()
        try:
            for line in process.stdout:
                print(f"  worker | {line.rstrip()}", flush=True)
            status = process.wait()
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
        if status != 0 and timed_out.is_set():
            raise DemoError(
                f"jobs_worker timed out after {WORKER_TIMEOUT:g} s and was killed. Its log is above."
            )
        if status != 0:
            raise DemoError(f"jobs_worker exited with status {status}. Its log is above.")

    def stop_web_server(self) -> None:
        if self.web_process is not None and self.web_process.poll() is None:
            self.web_process.terminate()
            try:
                self.web_process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.web_process.kill()
                self.web_process.wait()
        if self.web_log is not None:
            self.web_log.close()

    def web_log_tail(self, lines: int = 30) -> str:
        self.web_log.flush()
        text = (self.directory / "runserver.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # The database, read with the standard library

    def query(self, sql: str, parameters: tuple = ()) -> list[sqlite3.Row]:
        connection = sqlite3.connect(self.database, timeout=20)
        connection.row_factory = sqlite3.Row
        try:
            return connection.execute(sql, parameters).fetchall()
        finally:
            connection.close()

    def job_rows(self) -> list[sqlite3.Row]:
        return self.query(
            f"SELECT id, queue, job_class, attempts, run_at, locked_by, last_error, handler "
            f"FROM {JOB_TABLE} ORDER BY id"
        )

    def print_user(self) -> None:
        row = self.query("SELECT id, username, email, is_active FROM auth_user WHERE username = 'ada'")
        if not row:
            raise DemoError("the user ada is not in auth_user.")
        print(f"  auth_user: id={row[0]['id']} username={row[0]['username']} email={row[0]['email']} "
              f"is_active={row[0]['is_active']}")

    def print_job_row(self, row: sqlite3.Row, show_handler: bool = True) -> None:
        last_error = row["last_error"]
        error_lines = (last_error or "").splitlines()
        if len(error_lines) > 5:
            # The first line names the exception, and the traceback after it ends at the raising frame.
            last_error = "\n".join([error_lines[0], "...", *error_lines[-3:]])
        fields = {
            "id": row["id"],
            "queue": row["queue"],
            "job_class": row["job_class"],
            "attempts": row["attempts"],
            "run_at": f"{row['run_at']} UTC",
            "locked_by": row["locked_by"],
            "last_error": last_error,
        }
        if show_handler:
            fields["handler"] = json.dumps(json.loads(row["handler"]), indent=2)
        print_fields(fields, indent="    ")


def text_body(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def parse_sqlite_datetime(value: str) -> datetime.datetime:
    """Parse a datetime as Django stores it in SQLite: naive text, in UTC when USE_TZ is True."""
    return datetime.datetime.fromisoformat(value).replace(tzinfo=datetime.UTC)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
