"""DelayedJob in the Django admin: queued, running and failed jobs."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import DelayedJob, JobState, WorkerProcess


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return list(JobState.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in JobState.values:
            return queryset.in_state(self.value())
        return queryset


@admin.register(DelayedJob)
class DelayedJobAdmin(admin.ModelAdmin):
    list_display = (
        "id", "job_class", "queue", "state_badge", "priority", "attempts", "run_at",
        "locked_by", "error_summary",
    )
    list_filter = (StateFilter, "queue")
    search_fields = ("job_id", "job_class")
    ordering = ("priority", "run_at", "id")
    readonly_fields = (
        "job_id", "job_class", "handler", "attempts", "last_error", "locked_at", "locked_by",
        "lock_expires_at", "failed_at", "created_at", "updated_at", "max_attempts", "max_run_time",
    )
    fields = (
        "job_class", "job_id", "queue", "priority", "run_at", "attempts", "max_attempts", "max_run_time",
        "locked_by", "locked_at", "lock_expires_at", "failed_at", "created_at", "updated_at", "handler",
        "last_error",
    )

    @admin.display(description=_("state"))
    def state_badge(self, obj: DelayedJob) -> str:
        state = obj.state(timezone.now())
        return format_html(
            '<span class="activejob-state activejob-state-{}">{}</span>', state.value, state.label
        )

    @admin.display(description=_("last error"))
    def error_summary(self, obj: DelayedJob) -> str:
        return obj.error_summary

    def save_model(self, request: HttpRequest, obj: DelayedJob, form, change: bool) -> None:
        # Write only the edited columns, so a lock a worker took after the
        # page was loaded isn't overwritten.
        if change:
            obj.save(update_fields=form.changed_data)
        else:
            super().save_model(request, obj, form, change)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Jobs are created by enqueueing, never by hand.
        return False


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
