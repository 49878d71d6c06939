"""Fill the queue tables of the PostgreSQL benchmark database with a large mix of jobs.

One ``INSERT ... SELECT`` over ``generate_series`` writes every job row
inside the database server, so no row travels from Python. A million rows
took 26 to 56 s with VACUUM ANALYZE on the host that bench/README.md
describes. The mix of a fill:

- states: 85 % ready, 8 % scheduled (run_at up to 7 days ahead), 6 % failed
  and 1 % running (locked by one of the WORKERS);
- 20 job classes, each in one of 5 queues, so the queues hold about 40 %
  (default), 25 % (mailers), 15 % (webhooks), 15 % (reports) and 5 % (low)
  of the rows;
- priority 0 for half the rows, the other half spread evenly over -5 to 20;
- a handler of about 380 bytes of JSON in the shape ``Job.serialize()``
  returns, with two arguments;
- on failed rows, a last_error of about 3 KB in the format that the worker
  writes: ``"ExceptionClass: message"``, a newline and a traceback, with one
  of the four ERRORS, each on about a quarter of the failed rows.

The ready rows were enqueued during the last day and are due, so the
oldest has waited about a day: a backlog of 850,000 jobs. Besides the jobs,
a fill writes one WorkerProcess row per WORKERS entry with a fresh heartbeat
and one QueueStat row per queue and minute of the last hour.
"""

from __future__ import annotations

from django.db import connection

#: (job class, queue) pairs. A class always runs in the same queue, as with ``queue_as``.
JOB_CLASSES = [
    *((f"shop.jobs.{name}", "default") for name in (
        "ChargeOrderJob", "ReserveStockJob", "ReleaseStockJob", "RefundOrderJob",
        "SyncInventoryJob", "UpdateSearchIndexJob", "ResizeProductImageJob", "ExpireCartsJob",
    )),
    *((f"shop.mail.{name}", "mailers") for name in (
        "SendReceiptEmailJob", "SendShippingEmailJob", "SendPasswordResetEmailJob",
        "SendNewsletterEmailJob", "SendSignUpConfirmationEmailJob",
    )),
    *((f"shop.hooks.{name}", "webhooks") for name in (
        "DeliverOrderWebhookJob", "DeliverRefundWebhookJob", "DeliverStockWebhookJob",
    )),
    *((f"shop.reports.{name}", "reports") for name in (
        "BuildSalesReportJob", "BuildTaxReportJob", "ExportOrdersCsvJob",
    )),
    ("shop.maintenance.PurgeOldSessionsJob", "low"),
]

#: The first lines of the failed rows' last_error: the exception and its message.
ERRORS = [
    "smtplib.SMTPServerDisconnected: Connection unexpectedly closed",
    "ConnectionRefusedError: [Errno 111] Connection refused",
    "TimeoutError: The read operation timed out",
    "django_activejob.exceptions.DeserializationError: Order matching query does not exist.",
]

def _frame(path: str, line: int, function: str, statement: str) -> str:
    # A bare module name is in the standard library, the others in the virtualenv.
    directory = "/usr/lib/python3.12" if "/" not in path else "/srv/shop/venv/lib/python3.12/site-packages"
    return f'  File "{directory}/{path}", line {line}, in {function}\n    {statement}\n'


#: The traceback after the first line, as format_error() in django_activejob.worker.errors
#: writes it: a chained traceback of about 3 KB. Every failed row gets the same one.
TRACEBACK = "".join([
    "Traceback (most recent call last):\n",
    *(
        _frame(path, line, function, statement)
        for path, line, function, statement in [
            ("django/core/mail/backends/smtp.py", 95, "open",
             "self.connection = self.connection_class(self.host, self.port, **connection_params)"),
            ("smtplib.py", 255, "__init__", "(code, msg) = self.connect(host, port)"),
            ("smtplib.py", 343, "connect", "(code, msg) = self.getreply()"),
            ("smtplib.py", 398, "getreply", "line = self.file.readline(_MAXLINE + 1)"),
            ("socket.py", 706, "readinto", "return self._sock.recv_into(b)"),
        ]
    ),
    "ConnectionResetError: [Errno 104] Connection reset by peer\n",
    "\nDuring handling of the above exception, another exception occurred:\n\n",
    "Traceback (most recent call last):\n",
    *(
        _frame(path, line, function, statement)
        for path, line, function, statement in [
            ("django_activejob/worker/execution.py", 88, "perform", "job.perform_now()"),
            ("django_activejob/job.py", 412, "perform_now", 'return self._run_callbacks("perform", run)'),
            ("django_activejob/callbacks.py", 131, "_run_callbacks", "result = block()"),
            ("django_activejob/job.py", 405, "run", "return self.perform(*self.arguments, **self.kwargs)"),
            ("shop/mail.py", 57, "perform", "send_receipt(order, locale=self.locale)"),
            ("shop/receipts.py", 112, "send_receipt", "context = receipt_context(order)"),
            ("shop/receipts.py", 74, "receipt_context",
             "lines = [line_context(line) for line in order.lines.select_related('product')]"),
            ("django/db/models/query.py", 400, "__iter__", "self._fetch_all()"),
            ("django/db/models/query.py", 1949, "_fetch_all",
             "self._result_cache = list(self._iterable_class(self))"),
            ("shop/receipts.py", 131, "send_receipt", "message.send(fail_silently=False)"),
            ("django/core/mail/message.py", 301, "send",
             "return self.get_connection(fail_silently).send_messages([self])"),
            ("django/core/mail/backends/smtp.py", 136, "send_messages", "new_conn_created = self.open()"),
            ("django/core/mail/backends/smtp.py", 103, "open",
             "self.connection.login(self.username, self.password)"),
            ("smtplib.py", 716, "login",
             "initial_response = (authobject() if initial_response_ok else None)"),
            ("smtplib.py", 641, "auth", "(code, resp) = self.docmd(\"AUTH\", mechanism + \" \" + response)"),
            ("smtplib.py", 432, "docmd", "return self.getreply()"),
            ("smtplib.py", 405, "getreply", "raise self._error_class(code, msg)"),
        ]
    ),
])

#: (identifier, host name, queues) of the worker processes, all with a fresh heartbeat.
WORKERS = [
    (f"{host}:{pid}", host, queues)
    for host in ("worker-a.internal", "worker-b.internal")
    for pid, queues in ((4101, "*"), (4102, "*"), (4103, "default,mailers"), (4104, "webhooks,reports,low"))
]

INSERT_JOBS = """
INSERT INTO {jobs} (
    priority, attempts, handler, last_error, run_at, locked_at, failed_at, locked_by, queue,
    created_at, updated_at, job_id, job_class, lock_expires_at, max_attempts, max_run_time
)
SELECT
    priority,
    CASE state WHEN 'failed' THEN 25 WHEN 'running' THEN 1 ELSE 0 END,
    json_build_object(
        'version', 1, 'job_class', job_class, 'job_id', job_id, 'queue_name', queue,
        'priority', priority,
        'arguments', json_build_array(number, 'customer-' || number || '@example.com'),
        'executions', 0, 'exception_executions', json_build_object(), 'locale', 'en-us',
        'timezone', 'Europe/Berlin', 'enqueued_at', created_at, 'scheduled_at', NULL
    )::text,
    CASE WHEN state = 'failed'
        THEN (%(errors)s::text[])[error] || ' (order ' || number || ')' || E'\\n' || %(traceback)s
    END,
    CASE state
        WHEN 'scheduled' THEN now() + random() * interval '7 days'
        WHEN 'failed' THEN created_at + interval '1 hour'
        ELSE created_at
    END,
    CASE WHEN state = 'running' THEN now() - random() * interval '10 minutes' END,
    CASE WHEN state = 'failed' THEN created_at + interval '1 hour' + random() * interval '1 day' END,
    CASE WHEN state = 'running' THEN (%(workers)s::text[])[worker] END,
    queue, created_at, created_at, job_id, job_class,
    CASE WHEN state = 'running' THEN now() + interval '4 hours' END,
    NULL, NULL
FROM (
    SELECT
        number,
        gen_random_uuid() AS job_id,
        (%(classes)s::text[])[class] AS job_class,
        (%(queues)s::text[])[class] AS queue,
        CASE
            WHEN draw < 0.01 THEN 'running'
            WHEN draw < 0.07 THEN 'failed'
            WHEN draw < 0.15 THEN 'scheduled'
            ELSE 'ready'
        END AS state,
        CASE WHEN random() < 0.5 THEN 0 ELSE -5 + floor(random() * 26)::int END AS priority,
        CASE
            WHEN draw < 0.01 THEN now() - random() * interval '1 hour'
            WHEN draw < 0.07 THEN now() - interval '1 day' - random() * interval '6 days'
            WHEN draw < 0.15 THEN now() - random() * interval '1 hour'
            ELSE now() - random() * interval '1 day'
        END AS created_at,
        1 + floor(random() * %(error_count)s)::int AS error,
        1 + floor(random() * %(worker_count)s)::int AS worker
    FROM (
        SELECT number, 1 + floor(random() * %(class_count)s)::int AS class, random() AS draw
        FROM generate_series(1, %(rows)s) AS number
    ) AS numbers
) AS jobs
"""

INSERT_STATS = """
INSERT INTO {stats} (queue, minute, performed, failed)
SELECT queue, date_trunc('minute', now()) - minutes * interval '1 minute',
       floor(random() * 300)::int, floor(random() * 5)::int
FROM unnest(%(queues)s::text[]) AS queue, generate_series(0, 59) AS minutes
"""

INSERT_WORKERS = """
INSERT INTO {workers} (identifier, hostname, pid, queues, supervisor, started_at, heartbeat_at)
SELECT identifier, hostname, split_part(identifier, ':', 2)::int, queues, '',
       now() - interval '1 hour', now()
FROM unnest(%(identifiers)s::text[], %(hostnames)s::text[], %(queues)s::text[])
    AS workers(identifier, hostname, queues)
"""


def fill(rows: int) -> None:
    """Replace every job, worker, queue statistic and paused queue with a fresh mix of ``rows`` jobs.

    Ends with VACUUM ANALYZE, so the planner has statistics and the
    visibility map is set, as on a table that autovacuum has processed. It
    also keeps autovacuum from starting on the new rows while pages are timed.
    """
    from django_activejob.models import DelayedJob, PausedQueue, QueueStat, WorkerProcess

    if connection.vendor != "postgresql":
        raise ValueError(
            f"fill() needs PostgreSQL, not {connection.vendor}: run it on the postgres database."
        )
    if rows < 1:
        raise ValueError(f"rows={rows} is invalid: pass 1 or more.")
    tables = {
        name: connection.ops.quote_name(model._meta.db_table)
        for name, model in (("jobs", DelayedJob), ("workers", WorkerProcess), ("stats", QueueStat),
                            ("paused", PausedQueue))
    }
    queues = sorted({queue for _, queue in JOB_CLASSES})

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables.values())} RESTART IDENTITY")

        cursor.execute(INSERT_JOBS.format(**tables), {
            "rows": rows,
            "classes": [job_class for job_class, _ in JOB_CLASSES],
            "queues": [queue for _, queue in JOB_CLASSES],
            "class_count": len(JOB_CLASSES),
            "errors": ERRORS,
            "error_count": len(ERRORS),
            "traceback": TRACEBACK,
            "workers": [identifier for identifier, _, _ in WORKERS],
            "worker_count": len(WORKERS),
        })
        cursor.execute(INSERT_STATS.format(**tables), {"queues": queues})
        cursor.execute(INSERT_WORKERS.format(**tables), {
            "identifiers": [identifier for identifier, _, _ in WORKERS],
            "hostnames": [hostname for _, hostname, _ in WORKERS],
            "queues": [worker_queues for _, _, worker_queues in WORKERS],
        })

        cursor.execute(f"VACUUM ANALYZE {tables['jobs']}, {tables['workers']}, {tables['stats']}")


def empty() -> None:
    """Delete every job, worker and queue statistic row at once, with TRUNCATE."""
    from django_activejob.models import DelayedJob, QueueStat, WorkerProcess

    tables = [
        connection.ops.quote_name(model._meta.db_table) for model in (DelayedJob, WorkerProcess, QueueStat)
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)}")
