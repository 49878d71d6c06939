"""DelayedJob in the Django admin: queued, running and failed jobs."""

from __future__ import annotations

import json
import uuid

from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Substr
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from . import log
from .admin_actions import not_held, perform_now, report, retry_now, run_at
from .admin_filters import EstimatedCountPaginator, FailedFilter, PriorityFilter, StateFilter
from .models import DelayedJob, QueueDashboard, WorkerProcess

#: Characters of last_error that the change list loads, enough for its first line.
ERROR_HEAD_CHARACTERS = 500


@admin.register(DelayedJob)
class DelayedJobAdmin(admin.ModelAdmin):
    """Queued, running and failed jobs, with actions to retry, reschedule, perform or discard them."""

    list_display = (
        "id", "job_class", "queue", "state_badge", "priority", "attempts", "run_at", "created_at",
        "locked_by", "error_summary",
    )
    list_filter = (StateFilter, FailedFilter, "queue", "job_class", PriorityFilter)
    search_fields = ("job_class", "handler", "last_error")
    search_help_text = _("Search by job ID (exact), job class, argument text or error text.")
    sortable_by = ("id", "priority", "run_at", "created_at", "attempts")
    ordering = ("priority", "run_at", "id")
    actions = [retry_now, run_at, perform_now]
    paginator = EstimatedCountPaginator
    # An exact count of a million rows costs more than the rest of the page.
    show_full_result_count = False
    # Facet counts run one count per filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = (
        "job_id", "job_class", "state_badge", "arguments", "error_trace", "attempts", "max_attempts",
        "max_run_time", "created_at", "updated_at", "locked_by", "locked_at", "lock_expires_at", "failed_at",
    )
    fieldsets = (
        (None, {"fields": ("job_class", "job_id", "state_badge", "arguments")}),
        (_("Scheduling"), {
            "fields": ("queue", "priority", "run_at"),
            "description": _("A job that a worker is running keeps these until it finishes."),
        }),
        (_("History"), {"fields": (
            "attempts", "max_attempts", "max_run_time", "created_at", "updated_at", "locked_by", "locked_at",
            "lock_expires_at", "failed_at",
        )}),
        (_("Last error"), {"fields": ("error_trace",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            # The list shows the first line of the error; payloads and tracebacks stay in the database.
            queryset = queryset.defer("handler", "last_error").annotate(
                error_head=Substr("last_error", 1, ERROR_HEAD_CHARACTERS)
            )
        return queryset

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        try:
            job_id = uuid.UUID(term)
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(job_id=job_id), False

    @admin.display(description=_("state"))
    def state_badge(self, obj: DelayedJob) -> str:
        state = obj.state(timezone.now())
        return format_html(
            '<span class="activejob-state activejob-state-{}">{}</span>', state.value, state.label
        )

    @admin.display(description=_("last error"))
    def error_summary(self, obj: DelayedJob) -> str:
        if not hasattr(obj, "error_head"):
            return obj.error_summary
        # The change list loads only the start of the error; NULL means no error, with no query.
        return obj.error_head.split("\n", 1)[0] if obj.error_head else ""

    @admin.display(description=_("arguments"))
    def arguments(self, obj: DelayedJob) -> str:
        try:
            payload = json.loads(obj.handler)
        except ValueError:
            return format_html("<pre>{}</pre>", obj.handler)
        return format_html("<pre>{}</pre>", json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False))

    @admin.display(description=_("traceback"))
    def error_trace(self, obj: DelayedJob) -> str:
        if not obj.last_error:
            return "-"
        return format_html("<pre>{}</pre>", obj.last_error)

    def save_model(self, request: HttpRequest, obj: DelayedJob, form, change: bool) -> None:
        # Write only the edited columns, so a lock a worker took after the
        # page was loaded isn't overwritten.
        if change:
            obj.save(update_fields=form.changed_data)
        else:
            super().save_model(request, obj, form, change)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Discard the selected jobs, except those a worker is running."""
        selected = queryset.count()
        deleted, _per_model = not_held(queryset).delete()
        log.admin_action(request.user.get_username(), "discard", deleted, selected - deleted)
        if selected - deleted:
            report(self, request, deleted, selected - deleted, str(_("discarded")))

    def get_urls(self) -> list:
        from django.urls import path

        site = self.admin_site

        def dashboard(request: HttpRequest) -> HttpResponse:
            from .dashboard import dashboard_view

            return dashboard_view(request, admin_site=site)

        def pause(request: HttpRequest) -> HttpResponse:
            from .dashboard import queue_pause_view

            return queue_pause_view(request, admin_site=site)

        return [
            path("dashboard/", site.admin_view(dashboard), name="django_activejob_dashboard"),
            path("dashboard/pause/", site.admin_view(pause), name="django_activejob_dashboard_pause"),
            *super().get_urls(),
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Jobs are created by enqueueing, never by hand.
        return False


@admin.register(QueueDashboard)
class QueueDashboardAdmin(admin.ModelAdmin):
    """The app index's link to the queue dashboard."""

    def get_model_perms(self, request: HttpRequest) -> dict:
        return {"view": request.user.has_perm("django_activejob.view_delayedjob")}

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("django_activejob.view_delayedjob")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return redirect("admin:django_activejob_dashboard")


class AliveFilter(admin.SimpleListFilter):
    title = _("heartbeat")
    parameter_name = "alive"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("yes", _("alive")), ("no", _("dead"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.alive()
        if self.value() == "no":
            return queryset.dead()
        return queryset


@admin.register(WorkerProcess)
class WorkerProcessAdmin(admin.ModelAdmin):
    """Worker processes, read-only: their rows belong to the processes themselves."""

    list_display = (
        "identifier", "hostname", "pid", "queues", "started_at", "heartbeat_at", "alive_badge", "running_job",
    )
    list_filter = (AliveFilter, "hostname")
    search_fields = ("identifier", "hostname")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The running job comes from a subquery, so the page costs one query, not one per row.
        running = DelayedJob.objects.filter(locked_by=OuterRef("identifier"), failed_at__isnull=True)
        return super().get_queryset(request).annotate(
            running_job_class=Subquery(running.order_by("locked_at").values("job_class")[:1])
        )

    @admin.display(description=_("state"))
    def alive_badge(self, obj: WorkerProcess) -> str:
        alive = obj.is_alive()
        return format_html(
            '<span class="activejob-worker activejob-worker-{}">{}</span>',
            "alive" if alive else "dead", _("alive") if alive else _("dead"),
        )

    @admin.display(description=_("running job"))
    def running_job(self, obj: WorkerProcess) -> str:
        return getattr(obj, "running_job_class", None) or ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WorkerProcess | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: WorkerProcess | None = None) -> bool:
        # Deleting a live worker's row would make its running job look lost
        # and run it a second time; dead rows are deleted after a day.
        return False
