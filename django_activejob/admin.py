"""DelayedJob in the Django admin: queued, running and failed jobs."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import DelayedJob, JobState


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
        "failed_at", "created_at", "updated_at",
    )
    fields = (
        "job_class", "job_id", "queue", "priority", "run_at", "attempts", "locked_by", "locked_at",
        "failed_at", "created_at", "updated_at", "handler", "last_error",
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
