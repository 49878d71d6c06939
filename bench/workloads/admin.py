"""Admin pages on 1,000,000 jobs: response time, SQL queries and the slowest query's plan per page.

Each run fills the job table with ROWS jobs (bench/fill.py), then requests
every page as a logged-in superuser with ``django.test.Client``: once to
warm the caches, then REQUESTS times with every SQL query recorded. A page
reports the median of those requests. For the query that took longest
(by its median over the requests), the run stores the output of
``EXPLAIN (ANALYZE, BUFFERS)`` in the results file. PostgreSQL only, because
the fill uses its SQL.

The settings keep Django's CONN_MAX_AGE of 0, so every request opens a new
database connection, as it would in a project that doesn't change it.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import MeasurementError

if TYPE_CHECKING:
    from django.test import Client

    from bench.session import Session

ROWS = 1_000_000

#: Timed requests per page and run, after one untimed request that warms the caches.
REQUESTS = 5

#: The word that the error-text search looks for, on the first line of about a quarter of the failed rows.
ERROR_WORD = "SMTPServerDisconnected"

#: Characters of a query's SQL kept in the results file.
SQL_CHARACTERS = 2000

TITLE = (
    f"Admin pages on {ROWS:,} jobs, logged in as a superuser: "
    f"median of {REQUESTS} requests per run after one warm-up request"
)
METRICS = [
    ("ms", "page ms"),
    ("queries", "SQL queries"),
    ("sql_ms", "SQL ms"),
    ("slowest_query_ms", "slowest query ms"),
]
TARGETS: list = []
VARIANT_HEADER = "Page"


@dataclass(frozen=True)
class Dataset:
    """The logged-in client and the rows that the pages of one run look up."""

    client: Client
    #: A failed job, whose change page shows its traceback.
    failed_pk: int
    failed_error_head: str
    #: Any job's job_id, for the search by job ID.
    job_id: uuid.UUID


@dataclass(frozen=True)
class Page:
    """One admin page: how to build its URL and what its HTML must contain."""

    key: str
    label: str
    url: Callable[[Dataset], str]
    #: Texts that the response must contain.
    expected: Callable[[Dataset], list[str]] = lambda dataset: []
    #: Texts that it must not contain, e.g. the badge of a state that a filter excludes.
    unexpected: list[str] = field(default_factory=list)
    #: Rows that a change list must show, counted by the action form's checkboxes. None for other pages.
    rows: int | None = None


#: URL names of the pages.
JOBS = "admin:django_activejob_delayedjob_changelist"
JOB = "admin:django_activejob_delayedjob_change"
WORKER_PROCESSES = "admin:django_activejob_workerprocess_changelist"
DASHBOARD = "admin:django_activejob_dashboard"

STATES = ("ready", "scheduled", "running", "failed")


def _url(name: str, query: str = "", args: Callable[[Dataset], list[Any]] | None = None,
         ) -> Callable[[Dataset], str]:
    """Return a function of the run's dataset that reverses the URL ``name`` and appends ``query``."""

    def url(dataset: Dataset) -> str:
        from django.urls import reverse

        return reverse(name, args=args(dataset) if args else None) + query

    return url


def _other_badges(state: str) -> list[str]:
    return [f"activejob-state-{other}" for other in STATES if other != state]


def _pages() -> list[Page]:
    from bench.fill import WORKERS

    workers = [identifier for identifier, _, _ in WORKERS]
    return [
        Page("changelist", "job list, unfiltered", _url(JOBS), rows=100),
        Page("page-5000", "job list, page 5,000 (OFFSET 499,900)", _url(JOBS, "?p=5000"), rows=100),
        Page("state-ready", "job list, state ready", _url(JOBS, "?state=ready"),
             expected=lambda dataset: ["activejob-state-ready"], unexpected=_other_badges("ready"),
             rows=100),
        Page("state-failed", "job list, state failed", _url(JOBS, "?state=failed"),
             expected=lambda dataset: ["activejob-state-failed"], unexpected=_other_badges("failed"),
             rows=100),
        Page("queue", "job list, queue mailers", _url(JOBS, "?queue__exact=mailers"), rows=100),
        Page("job-class", "job list, job class ExportOrdersCsvJob",
             _url(JOBS, "?job_class__exact=shop.reports.ExportOrdersCsvJob"), rows=100),
        Page("priority", "job list, priority 10 and above", _url(JOBS, "?priority_range=high"), rows=100),
        Page("search-error", f"job list, search {ERROR_WORD} (error text)", _url(JOBS, f"?q={ERROR_WORD}"),
             expected=lambda dataset: [ERROR_WORD], rows=100),
        Page("search-job-id", "job list, search a job ID",
             lambda dataset: _url(JOBS, f"?q={dataset.job_id}")(dataset),
             expected=lambda dataset: [str(dataset.job_id)], rows=1),
        Page("detail", "a failed job's change page", _url(JOB, args=lambda dataset: [dataset.failed_pk]),
             expected=lambda dataset: [_escape(dataset.failed_error_head), "During handling"]),
        # The list has no actions and so no checkboxes to count. Every worker must be on it instead.
        Page("workers", "worker process list", _url(WORKER_PROCESSES), expected=lambda dataset: workers),
        Page("dashboard", "queue dashboard", _url(DASHBOARD),
             expected=lambda dataset: ["mailers", "activejob-chart", *workers]),
        Page("dashboard-fragment", "queue dashboard, ?fragment=1", _url(DASHBOARD, "?fragment=1"),
             expected=lambda dataset: ["mailers", "activejob-chart"], unexpected=["<html"]),
    ]


def _escape(text: str) -> str:
    from django.utils.html import escape

    return escape(text)


def variants(vendor: str) -> list[Page]:
    if vendor != "postgresql":
        return []
    return _pages()


def prepare(session: Session) -> Dataset:
    """Fill the tables for one run and log a superuser in."""
    from django.contrib.auth.models import User
    from django.test import Client

    from bench import databases, fill
    from django_activejob.models import DelayedJob

    started = time.monotonic()
    fill.fill(ROWS)
    print(f"[{databases.LABELS[session.database]}] admin, run {session.run}: filled {ROWS:,} jobs "
          f"in {time.monotonic() - started:.0f} s", flush=True)

    User.objects.filter(username="bench-admin").delete()
    user = User.objects.create_superuser("bench-admin", "bench-admin@example.test", password=None)
    client = Client()
    client.force_login(user)

    failed = DelayedJob.objects.failed().order_by("pk").values("pk", "last_error").first()
    any_job = DelayedJob.objects.order_by("-pk").values("job_id").first()
    if failed is None or any_job is None:
        raise MeasurementError("The fill wrote no failed job, or no job at all: check bench/fill.py.")
    return Dataset(
        client=client,
        failed_pk=failed["pk"],
        failed_error_head=failed["last_error"].split("\n", 1)[0],
        job_id=any_job["job_id"],
    )


def finish(session: Session) -> None:
    """Empty the tables again, so the next workload starts from an empty queue."""
    from bench import fill

    fill.empty()


def measure(variant: Page, session: Session) -> dict[str, Any]:
    from django.db import connection
    from django.utils import timezone

    from django_activejob.models import WorkerProcess

    dataset: Dataset = session.prepared
    url = variant.url(dataset)
    # The dashboard lists live workers only, and the earlier pages of this run
    # took longer than HEARTBEAT_TIMEOUT.
    WorkerProcess.objects.update(heartbeat_at=timezone.now())

    request(dataset, url, variant)
    durations, logs = [], []
    for _ in range(REQUESTS):
        log = QueryLog()
        with connection.execute_wrapper(log):
            durations.append(request(dataset, url, variant))
        logs.append(log.queries)

    # The queries of the page, slowest first by their median over the requests.
    ranked = sorted(query_durations(logs).values(), key=lambda entry: statistics.median(entry["ms"]),
                    reverse=True)
    slowest = ranked[0]
    return {
        "ms": statistics.median(durations),
        "queries": statistics.median(len(queries) for queries in logs),
        "sql_ms": statistics.median(sum(query.ms for query in queries) for queries in logs),
        "slowest_query_ms": statistics.median(slowest["ms"]),
        "url": url,
        "requests_ms": [round(duration, 3) for duration in durations],
        "query_counts": [len(queries) for queries in logs],
        # The same SQL text run more than once in a request, such as a query per row.
        "repeated_queries": repeated_queries(logs),
        "slowest_queries": [
            {"sql": entry["query"].sql[:SQL_CHARACTERS], "ms": round(statistics.median(entry["ms"]), 3)}
            for entry in ranked[:5]
        ],
        "slowest_query_plan": explain(slowest["query"]),
    }


def request(dataset: Dataset, url: str, page: Page) -> float:
    """Request ``url`` with GET and check the response. Return how long the request took in milliseconds."""
    started = time.perf_counter()
    try:
        response = dataset.client.get(url)
    except Exception as exc:
        # The test client re-raises the view's exception, which fails this page but not the session.
        raise MeasurementError(f"GET {url} raised {type(exc).__name__}: {exc}") from exc
    duration = (time.perf_counter() - started) * 1000
    check(response, url, page, dataset)
    return duration


def check(response: Any, url: str, page: Page, dataset: Dataset) -> None:
    """Raise MeasurementError unless the response is the page, with its rows and texts."""
    if response.status_code != 200:
        location = response.get("Location", "")
        raise MeasurementError(
            f"GET {url} returned status {response.status_code}{' to ' + location if location else ''}."
        )
    content = response.content.decode()
    missing = [text for text in page.expected(dataset) if text not in content]
    if missing:
        raise MeasurementError(f"GET {url} returned a page without {missing!r}.")
    present = [text for text in page.unexpected if text in content]
    if present:
        raise MeasurementError(f"GET {url} returned a page with {present!r}, which the page must not show.")
    if page.rows is not None:
        # One checkbox per row of a change list, named by Django's action form.
        rows = content.count('name="_selected_action"')
        if rows != page.rows:
            raise MeasurementError(f"GET {url} listed {rows} rows instead of {page.rows}.")


@dataclass
class Query:
    sql: str
    params: Any
    ms: float


class QueryLog:
    """A Django execute wrapper that records every query with its parameters and duration.

    The duration covers ``cursor.execute()``, which with psycopg's
    client-side cursors includes receiving the whole result.
    """

    def __init__(self) -> None:
        self.queries: list[Query] = []

    def __call__(self, execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append(Query(sql, params, (time.perf_counter() - started) * 1000))


def query_durations(logs: list[list[Query]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Group the queries of a page's requests by query. Return each one's durations and an example.

    A query is its SQL text and its place among the queries with that text
    in the request, so the queries of a change list's rows stay apart.
    Parameters don't count, because some, like the current time, change
    with every request.
    """
    if not any(logs):
        raise MeasurementError("The page ran no SQL query, so it can't have read the job table.")
    entries: dict[tuple[str, int], dict[str, Any]] = {}
    for queries in logs:
        seen: Counter[str] = Counter()
        for query in queries:
            seen[query.sql] += 1
            entry = entries.setdefault((query.sql, seen[query.sql]), {"ms": [], "query": query})
            entry["ms"].append(query.ms)
    return entries


def repeated_queries(logs: list[list[Query]]) -> dict[str, int]:
    """Return the SQL texts that ran more than once in one request, with how often they ran at most."""
    repeated: dict[str, int] = {}
    for queries in logs:
        for sql, count in Counter(query.sql for query in queries).items():
            if count > 1:
                repeated[sql[:SQL_CHARACTERS]] = max(repeated.get(sql[:SQL_CHARACTERS], 0), count)
    return repeated


def explain(query: Query) -> dict[str, Any]:
    """Run ``EXPLAIN (ANALYZE, BUFFERS)`` on a SELECT. Return the plan's top line, its scans and all lines.

    Other statements get a plain EXPLAIN, because ANALYZE would execute them again.
    """
    from django.db import connection

    analyze = query.sql.lstrip().upper().startswith("SELECT")
    options = "ANALYZE, BUFFERS" if analyze else "COSTS"
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ({options}) {query.sql}", query.params)
        lines = [row[0] for row in cursor.fetchall()]

    scans = []
    for line in lines:
        # A plan node reads "->  Seq Scan on table  (cost=...) (actual time=...)".
        node = line.strip().removeprefix("->").strip().split("  (")[0]
        if " Scan " in f" {node} ":
            scans.append(node)
    return {"analyze": analyze, "top": lines[0] if lines else "", "scans": list(dict.fromkeys(scans)),
            "lines": lines}
