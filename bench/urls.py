"""URLs of the benchmark settings: the Django admin, which the admin workload requests."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
