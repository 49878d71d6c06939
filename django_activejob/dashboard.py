"""The queue dashboard in the admin: per-queue counts, latency, throughput and live workers.

The page costs the same number of queries whatever the number of queues,
workers or rows. They are one aggregate over DelayedJob grouped by queue, two
over QueueStat, one for paused queues, and one for the live workers with
their running job in a subquery.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Min, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, NullIf
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from . import conf, log
from .models import DelayedJob, PausedQueue, QueueStat, WorkerProcess
from .pausing import pause_queue, resume_queue
from .queues import MAX_QUEUE_NAME_LENGTH, validate_queue_name

TEMPLATE_NAME = "admin/django_activejob/dashboard.html"

#: Seconds between two refreshes of the page by its script.
REFRESH_SECONDS = 5

#: The chart has one bucket per minute: the current minute and the 59 before it.
CHART_MINUTES = 60

VIEW_PERMISSION = "django_activejob.view_delayedjob"
CHANGE_PERMISSION = "django_activejob.change_delayedjob"

# Rows written with an empty queue, as delayed_job allowed, belong to "default"
# for the workers (see DelayedJobQuerySet.in_queues), so the dashboard counts
# them there.
DEFAULT_QUEUE = "default"


# Data: every function takes the clock and the database alias from the caller.


@dataclass
class QueueSummary:
    """One queue's line on the dashboard."""

    name: str
    scheduled: int = 0
    ready: int = 0
    running: int = 0
    failed: int = 0
    #: Age of the oldest ready job: how long a job waits before a worker takes it.
    latency: datetime.timedelta | None = None
    performed_last_hour: int = 0
    failed_last_hour: int = 0
    paused: PausedQueue | None = None
    paused_age: datetime.timedelta | None = None

    @property
    def latency_display(self) -> str:
        return "" if self.latency is None else format_age(self.latency)

    @property
    def paused_age_display(self) -> str:
        return "" if self.paused_age is None else format_age(self.paused_age)


@dataclass
class Bucket:
    """Executions that finished in one minute, in all queues."""

    minute: datetime.datetime
    performed: int = 0
    failed: int = 0


@dataclass
class Throughput:
    """The last hour's executions, one bucket per minute, oldest first."""

    buckets: list[Bucket]

    @property
    def performed(self) -> int:
        return sum(bucket.performed for bucket in self.buckets)

    @property
    def failed(self) -> int:
        return sum(bucket.failed for bucket in self.buckets)


@dataclass
class WorkerSummary:
    """A live worker process and the job it has locked first, if any."""

    identifier: str
    hostname: str
    pid: int
    queues: str
    heartbeat_age: datetime.timedelta
    running_job_class: str | None

    @property
    def heartbeat_age_display(self) -> str:
        return format_age(self.heartbeat_age)


def minute_of(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(second=0, microsecond=0)


def last_hour_start(now: datetime.datetime) -> datetime.datetime:
    """Return the first minute of the chart and of the "last hour" columns."""
    return minute_of(now) - datetime.timedelta(minutes=CHART_MINUTES - 1)


def queue_summaries(now: datetime.datetime, using: str) -> list[QueueSummary]:
    """Summarize every queue that has jobs, executions in the last hour, or is paused, by name.

    The states follow ``DelayedJob.state()``: failed if ``failed_at`` is set,
    else running if locked, else scheduled or ready by ``run_at``.
    """
    unfailed = Q(failed_at__isnull=True)
    ready = unfailed & Q(locked_at__isnull=True, run_at__lte=now)
    # Grouping by this expression instead of the bare column also keeps SQLite
    # and MariaDB from reading the rows in the order of the (queue, priority,
    # run_at) index, one random row lookup per index entry. With 1,000,000
    # rows on MariaDB 10.11 (128 MB buffer pool) that took 42 s instead of 2 s.
    queue_name = Coalesce(NullIf(F("queue"), Value("")), Value(DEFAULT_QUEUE))
    job_counts = (
        DelayedJob.objects.using(using)
        .order_by()
        .annotate(queue_name=queue_name)
        .values("queue_name")
        .annotate(
            scheduled=Count("pk", filter=unfailed & Q(locked_at__isnull=True, run_at__gt=now)),
            ready=Count("pk", filter=ready),
            running=Count("pk", filter=unfailed & Q(locked_at__isnull=False)),
            failed=Count("pk", filter=Q(failed_at__isnull=False)),
            oldest_ready_at=Min("run_at", filter=ready),
        )
    )
    summaries: dict[str, QueueSummary] = {}
    for row in job_counts:
        summaries[row["queue_name"]] = QueueSummary(
            row["queue_name"],
            scheduled=row["scheduled"],
            ready=row["ready"],
            running=row["running"],
            failed=row["failed"],
            latency=None if row["oldest_ready_at"] is None else max(
                now - row["oldest_ready_at"], datetime.timedelta(0)
            ),
        )

    executions = (
        _last_hour_stats(now, using)
        .values("queue")
        .annotate(performed=Sum("performed"), failed=Sum("failed"))
    )
    for row in executions:
        queue = summaries.setdefault(row["queue"], QueueSummary(row["queue"]))
        queue.performed_last_hour = row["performed"] or 0
        queue.failed_last_hour = row["failed"] or 0

    for paused in PausedQueue.objects.using(using):
        queue = summaries.setdefault(paused.queue, QueueSummary(paused.queue))
        queue.paused = paused
        queue.paused_age = max(now - paused.paused_at, datetime.timedelta(0))

    return [summaries[name] for name in sorted(summaries)]


def _last_hour_stats(now: datetime.datetime, using: str):
    # A worker whose clock runs ahead may write minutes after ``now``. They
    # are left out until they fall inside the window, so the totals equal the
    # sum of the chart's buckets.
    return QueueStat.objects.using(using).since(last_hour_start(now)).filter(
        minute__lte=minute_of(now)
    ).order_by()


def throughput(now: datetime.datetime, using: str) -> Throughput:
    """Count the executions of all queues per minute over the last hour."""
    start = last_hour_start(now)
    buckets = [Bucket(start + datetime.timedelta(minutes=index)) for index in range(CHART_MINUTES)]
    per_minute = (
        _last_hour_stats(now, using)
        .values("minute")
        .annotate(performed=Sum("performed"), failed=Sum("failed"))
    )
    for row in per_minute:
        index = int((minute_of(row["minute"]) - start).total_seconds()) // 60
        if 0 <= index < CHART_MINUTES:
            buckets[index].performed += row["performed"] or 0
            buckets[index].failed += row["failed"] or 0
    return Throughput(buckets)


def live_workers(now: datetime.datetime, using: str) -> list[WorkerSummary]:
    """List the workers whose heartbeat is recent, with the class of the job each has locked first."""
    locked = DelayedJob.objects.using(using).filter(
        locked_by=OuterRef("identifier"), failed_at__isnull=True, locked_at__isnull=False
    )
    workers = (
        WorkerProcess.objects.using(using)
        .alive(now)
        .annotate(running_job_class=Subquery(locked.order_by("locked_at", "id").values("job_class")[:1]))
        .order_by("hostname", "identifier")
    )
    return [
        WorkerSummary(
            identifier=worker.identifier,
            hostname=worker.hostname,
            pid=worker.pid,
            queues=_("all queues") if worker.queues == "*" else worker.queues.replace(",", ", "),
            # Clamped, because a worker host's clock may run ahead of this one.
            heartbeat_age=max(now - worker.heartbeat_at, datetime.timedelta(0)),
            running_job_class=worker.running_job_class,
        )
        for worker in workers
    ]


def format_age(age: datetime.timedelta) -> str:
    """Format ``age`` for people to read: "42 seconds", "3 minutes", "2 hours, 5 minutes"."""
    seconds = int(age.total_seconds())
    if seconds < 60:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    now = timezone.now()
    return timesince(now - age, now, depth=2)


# The throughput chart, drawn as SVG so the page needs no JavaScript library
# and no external file.

CHART_WIDTH = 720
CHART_HEIGHT = 220
PLOT_LEFT = 48
PLOT_RIGHT = CHART_WIDTH - 8
PLOT_TOP = 12
PLOT_BOTTOM = CHART_HEIGHT - 28
PERFORMED_COLOR = "#2e8540"
FAILED_COLOR = "#d9534f"


def chart_scale(largest: int) -> int:
    """Return the top of the y axis: the smallest 1, 2 or 5 times a power of ten that is >= ``largest``."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if factor * step >= largest:
                return factor * step
        step *= 10


def _coordinate(value: float) -> str:
    return f"{value:.1f}"


def throughput_svg(data: Throughput) -> SafeString:
    """Draw ``data`` as stacked bars, performed below failed, with a title and axis labels.

    Each minute is a ``<g class="activejob-bucket">`` with ``data-minute``,
    ``data-performed`` and ``data-failed`` attributes and a ``<title>`` that
    browsers show as a tooltip.
    """
    top = chart_scale(max((bucket.performed + bucket.failed for bucket in data.buckets), default=0))
    plot_height = PLOT_BOTTOM - PLOT_TOP
    slot = (PLOT_RIGHT - PLOT_LEFT) / CHART_MINUTES
    bar_width = max(slot - 2, 1)

    def height_of(count: int) -> float:
        return count * plot_height / top

    first = timezone.localtime(data.buckets[0].minute)
    last = timezone.localtime(data.buckets[-1].minute)
    parts = [
        format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" class="activejob-chart" viewBox="0 0 {} {}" '
            'width="100%" role="img" aria-labelledby="activejob-chart-title activejob-chart-desc">',
            CHART_WIDTH, CHART_HEIGHT,
        ),
        format_html('<title id="activejob-chart-title">{}</title>', _("Executions per minute, last hour")),
        format_html(
            '<desc id="activejob-chart-desc">{}</desc>',
            _("%(performed)d performed and %(failed)d failed between %(start)s and %(end)s.") % {
                "performed": data.performed, "failed": data.failed,
                "start": f"{first:%H:%M}", "end": f"{last:%H:%M}",
            },
        ),
    ]

    # Horizontal grid lines with the y axis labels: zero, half and the top.
    for value in (0, top // 2, top) if top > 1 else (0, top):
        y = PLOT_BOTTOM - height_of(value)
        parts.append(format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="currentColor" stroke-opacity="0.25"/>'
            '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="currentColor">{}</text>',
            PLOT_LEFT, _coordinate(y), PLOT_RIGHT, _coordinate(y), PLOT_LEFT - 6, _coordinate(y + 4), value,
        ))

    for index, bucket in enumerate(data.buckets):
        x = PLOT_LEFT + index * slot + (slot - bar_width) / 2
        performed_height = height_of(bucket.performed)
        failed_height = height_of(bucket.failed)
        local_minute = timezone.localtime(bucket.minute)
        parts.append(format_html(
            '<g class="activejob-bucket" data-minute="{}" data-performed="{}" data-failed="{}">'
            "<title>{}</title>"
            '<rect class="activejob-performed" x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
            '<rect class="activejob-failed" x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
            "</g>",
            bucket.minute.isoformat(), bucket.performed, bucket.failed,
            _("%(minute)s: %(performed)d performed, %(failed)d failed") % {
                "minute": f"{local_minute:%H:%M}", "performed": bucket.performed, "failed": bucket.failed,
            },
            _coordinate(x), _coordinate(PLOT_BOTTOM - performed_height), _coordinate(bar_width),
            _coordinate(performed_height), PERFORMED_COLOR,
            _coordinate(x), _coordinate(PLOT_BOTTOM - performed_height - failed_height),
            _coordinate(bar_width), _coordinate(failed_height), FAILED_COLOR,
        ))

    # The x axis with a clock time every 15 minutes and on the current minute.
    parts.append(format_html(
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="currentColor"/>',
        PLOT_LEFT, PLOT_BOTTOM, PLOT_RIGHT, PLOT_BOTTOM,
    ))
    # The first and last labels are aligned to the plot's edges, so they stay inside the image.
    for index, anchor in ((0, "start"), (15, "middle"), (30, "middle"), (45, "middle"),
                          (CHART_MINUTES - 1, "end")):
        x = {"start": PLOT_LEFT + index * slot, "middle": PLOT_LEFT + (index + 0.5) * slot,
             "end": PLOT_RIGHT}[anchor]
        label = timezone.localtime(data.buckets[index].minute)
        parts.append(format_html(
            '<text x="{}" y="{}" text-anchor="{}" font-size="11" fill="currentColor">{}</text>',
            _coordinate(x), PLOT_BOTTOM + 16, anchor, f"{label:%H:%M}",
        ))

    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(parts))


# Views. DelayedJobAdmin.get_urls registers both, wrapped in
# admin_site.admin_view, which adds the login redirect and never_cache.


def _can_view(request: HttpRequest, admin_site: AdminSite) -> bool:
    # The change permission implies the view permission, as in ModelAdmin.
    user = request.user
    return admin_site.has_permission(request) and (
        user.has_perm(VIEW_PERMISSION) or user.has_perm(CHANGE_PERMISSION)
    )


def _can_change(request: HttpRequest, admin_site: AdminSite) -> bool:
    return admin_site.has_permission(request) and request.user.has_perm(CHANGE_PERMISSION)


def dashboard_view(request: HttpRequest, admin_site: AdminSite) -> HttpResponse:
    """Render the dashboard page, or with ``?fragment=1`` only the part its script refreshes."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if not _can_view(request, admin_site):
        raise PermissionDenied
    request.current_app = admin_site.name

    now = timezone.now()
    using = conf.get("DATABASE")
    data = throughput(now, using)
    context = {
        "generated_at": now,
        "queues": queue_summaries(now, using),
        "throughput": data,
        "chart": throughput_svg(data),
        "workers": live_workers(now, using),
        "can_change": _can_change(request, admin_site),
        "changelist_url": reverse(
            "admin:django_activejob_delayedjob_changelist", current_app=admin_site.name
        ),
        "refresh_seconds": REFRESH_SECONDS,
        "performed_color": PERFORMED_COLOR,
        "failed_color": FAILED_COLOR,
    }

    template = get_template(TEMPLATE_NAME)
    if request.GET.get("fragment") == "1":
        # The template extends this one-block parent, so only its "dashboard"
        # block is rendered: the inside of the element that the script replaces.
        context["dashboard_parent"] = template.template.engine.from_string(
            "{% block dashboard %}{% endblock %}"
        )
    else:
        context.update(
            admin_site.each_context(request),
            dashboard_parent="admin/base_site.html",
            title=_("Queue dashboard"),
            opts=DelayedJob._meta,
        )
    return HttpResponse(template.render(context, request))


class QueueActionForm(forms.Form):
    """The pause and resume buttons' form: a queue name and what to do with it."""

    queue = forms.CharField(max_length=MAX_QUEUE_NAME_LENGTH, strip=False)
    action = forms.ChoiceField(choices=[("pause", gettext_lazy("Pause")), ("resume", gettext_lazy("Resume"))])

    def clean_queue(self) -> str:
        # The field has already rejected empty and too long names.
        queue = self.cleaned_data["queue"]
        try:
            return validate_queue_name(queue)
        except ValueError:
            raise forms.ValidationError(
                _("Queue name “%(queue)s” is invalid: remove the commas and the spaces around it.")
                % {"queue": queue}
            ) from None


def queue_pause_view(request: HttpRequest, admin_site: AdminSite) -> HttpResponse:
    """Pause or resume the posted queue, then redirect to the dashboard with a message about the outcome."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not _can_change(request, admin_site):
        raise PermissionDenied
    dashboard_url = reverse("admin:django_activejob_dashboard", current_app=admin_site.name)

    form = QueueActionForm(request.POST)
    if not form.is_valid():
        errors = " ".join(str(error) for field_errors in form.errors.values() for error in field_errors)
        log.queue_action_rejected(
            request.user.get_username(), request.POST.get("action", ""), request.POST.get("queue", ""), errors
        )
        messages.error(request, _("Nothing was paused or resumed: %(errors)s") % {"errors": errors})
        return HttpResponseRedirect(dashboard_url)

    queue = form.cleaned_data["queue"]
    username = request.user.get_username()
    using = conf.get("DATABASE")
    if form.cleaned_data["action"] == "pause":
        if pause_queue(queue, paused_by=username, using=using):
            messages.success(request, _(
                "Paused queue “%(queue)s”. Workers finish the jobs they have started and take no more "
                "from this queue until it is resumed."
            ) % {"queue": queue})
        else:
            messages.info(request, _("Queue “%(queue)s” was already paused.") % {"queue": queue})
    elif resume_queue(queue, resumed_by=username, using=using):
        messages.success(
            request, _("Resumed queue “%(queue)s”. Workers take its jobs again.") % {"queue": queue}
        )
    else:
        messages.info(request, _("Queue “%(queue)s” was not paused.") % {"queue": queue})
    return HttpResponseRedirect(dashboard_url)
