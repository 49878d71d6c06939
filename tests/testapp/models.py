from django.db import models


class Performance(models.Model):
    """One run of a fixture job's perform, written by the job itself."""

    label = models.CharField(max_length=200)
    job_id = models.UUIDField(null=True)
    pid = models.IntegerField(null=True)
    value = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)


class Invoice(models.Model):
    number = models.CharField(max_length=50)


class Tag(models.Model):
    """A model with a non-integer primary key."""

    name = models.CharField(max_length=50, primary_key=True)


class AuditLog(models.Model):
    message = models.CharField(max_length=200)
