"""Admin actions on DelayedJob rows: retry now, run at a time, perform now.

Every action skips the rows that a worker holds (locked and not failed),
writes with one conditional UPDATE so a lock taken after the page loaded is
respected, and reports how many rows it changed and how many it skipped.
Discarding is Django's delete action, whose delete_queryset in the
ModelAdmin skips held rows the same way.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import conf, log
from .models import DelayedJob

#: Rows "perform now" runs in one request, which waits for them.
PERFORM_NOW_LIMIT = 20

#: A row a worker holds: locked and not failed.
HELD = Q(locked_at__isnull=False, failed_at__isnull=True)


def not_held(queryset: QuerySet) -> QuerySet:
    return queryset.exclude(HELD)


def report(model_admin: admin.ModelAdmin, request: HttpRequest, changed: int, skipped: int,
           done: str) -> None:
    """Say how many rows changed and how many a worker held."""
    model_admin.message_user(
        request,
        ngettext("%(count)d job %(done)s.", "%(count)d jobs %(done)s.", changed)
        % {"count": changed, "done": done},
        messages.SUCCESS if changed else messages.WARNING,
    )
    if skipped:
        model_admin.message_user(
            request,
            ngettext(
                "%(count)d job was skipped because a worker is running it.",
                "%(count)d jobs were skipped because a worker is running them.",
                skipped,
            ) % {"count": skipped},
            messages.WARNING,
        )


def _schedule(queryset: QuerySet, run_at) -> int:
    # A retried job gets its full attempts again; last_error stays until it runs.
    now = timezone.now()
    return not_held(queryset).update(
        run_at=run_at, failed_at=None, attempts=0, locked_at=None, locked_by=None, lock_expires_at=None,
        updated_at=now,
    )


@admin.action(description=_("Retry the selected jobs now"), permissions=["change"])
def retry_now(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    selected = queryset.count()
    changed = _schedule(queryset, timezone.now())
    log.admin_action(request.user.get_username(), "retry now", changed, selected - changed)
    report(model_admin, request, changed, selected - changed, str(_("will run now")))


class RunAtForm(forms.Form):
    run_at = forms.SplitDateTimeField(label=_("Run at"), widget=admin.widgets.AdminSplitDateTime)


@admin.action(description=_("Run the selected jobs at a given time…"), permissions=["change"])
def run_at(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    """Ask for a time on an intermediate page, then schedule the selected rows for it."""
    form = RunAtForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        selected = queryset.count()
        changed = _schedule(queryset, form.cleaned_data["run_at"])
        log.admin_action(request.user.get_username(), "run at", changed, selected - changed)
        when = timezone.localtime(form.cleaned_data["run_at"]).strftime("%Y-%m-%d %H:%M")
        report(model_admin, request, changed, selected - changed, str(_("will run at %s")) % when)
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Run jobs at a given time"),
        "form": form,
        "queryset": queryset,
        "opts": model_admin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": model_admin.media + form.media,
    }
    return TemplateResponse(request, "admin/django_activejob/run_at.html", context)


@admin.action(description=_("Perform the selected jobs now, in this request"), permissions=["change"])
def perform_now(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    """Lock each row for this user, perform it here, and record the outcome as a worker would."""
    from .worker.execution import execute
    from .worker.outcome import OutcomeRecorder

    selected = list(queryset.values_list("pk", flat=True)[: PERFORM_NOW_LIMIT + 1])
    if len(selected) > PERFORM_NOW_LIMIT:
        model_admin.message_user(
            request,
            _("Select at most %(limit)d jobs to perform in one request; use retry for more.")
            % {"limit": PERFORM_NOW_LIMIT},
            messages.ERROR,
        )
        return
    identifier = f"admin:{request.user.get_username()}"[:255]
    now = timezone.now()
    locked = not_held(DelayedJob.objects.using(queryset.db).filter(pk__in=selected)).update(
        locked_at=now, locked_by=identifier, lock_expires_at=None, updated_at=now
    )
    recorder = OutcomeRecorder(
        identifier=identifier, using=queryset.db, max_attempts=conf.get("MAX_ATTEMPTS"),
        destroy_failed_jobs=conf.get("DESTROY_FAILED_JOBS"), max_error_bytes=conf.get("MAX_ERROR_BYTES"),
        now=timezone.now,
    )
    performed = failed = 0
    for row in DelayedJob.objects.using(queryset.db).filter(pk__in=selected, locked_by=identifier):
        execution = execute(row)
        recorder.record(row, execution)
        if execution.error is None:
            performed += 1
        else:
            failed += 1
    log.admin_action(request.user.get_username(), "perform now", locked, len(selected) - locked)
    report(model_admin, request, performed, len(selected) - locked, str(_("performed")))
    if failed:
        model_admin.message_user(
            request,
            ngettext(
                "%(count)d job failed; see its last error.",
                "%(count)d jobs failed; see their last errors.",
                failed,
            ) % {"count": failed},
            messages.ERROR,
        )
