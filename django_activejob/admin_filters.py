"""Change list filters and the paginator of the DelayedJob admin."""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from .models import JobState

#: Above this many rows, an unfiltered change list shows PostgreSQL's estimate instead of counting.
ESTIMATE_ABOVE = 100_000


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return list(JobState.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in JobState.values:
            return queryset.in_state(self.value())
        return queryset


class FailedFilter(admin.SimpleListFilter):
    title = _("failed")
    parameter_name = "failed"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("yes", _("failed")), ("no", _("not failed"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(failed_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(failed_at__isnull=True)
        return queryset


class PriorityFilter(admin.SimpleListFilter):
    """Priority ranges; lower numbers run first."""

    title = _("priority")
    parameter_name = "priority_range"
    ranges = {
        "negative": (None, -1, _("below 0 (runs first)")),
        "zero": (0, 0, _("0 (the default)")),
        "low": (1, 9, _("1 to 9")),
        "high": (10, None, _("10 and above (runs last)")),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [(key, label) for key, (_low, _high, label) in self.ranges.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in self.ranges:
            return queryset
        low, high, _label = self.ranges[self.value()]
        if low is not None:
            queryset = queryset.filter(priority__gte=low)
        if high is not None:
            queryset = queryset.filter(priority__lte=high)
        return queryset


class EstimatedCountPaginator(Paginator):
    """Count an unfiltered table of many rows from PostgreSQL's statistics instead of COUNT(*).

    COUNT(*) reads every row; on a million rows it costs more than the rest
    of the page. Filtered lists, other databases and small tables are
    counted exactly.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and not queryset.query.where:
            estimate = _estimated_rows(queryset)
            if estimate is not None and estimate > ESTIMATE_ABOVE:
                return estimate
        return super().count


def _estimated_rows(queryset: QuerySet) -> int | None:
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                       [queryset.model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] >= 0 else None
