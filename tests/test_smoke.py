import pytest

from django_activejob.models import DelayedJob
from django_activejob.worker import Worker, WorkerOptions
from tests.testapp.jobs import EchoJob, echoed


@pytest.mark.django_db(transaction=True)
def test_enqueue_and_work_off():
    echoed.clear()
    job = EchoJob.perform_later(1, "two", key=[3])
    assert DelayedJob.objects.count() == 1
    assert job.provider_job_id == DelayedJob.objects.get().pk
    Worker(WorkerOptions(identifier="t1")).work_off()
    assert DelayedJob.objects.count() == 0
    assert echoed == [((1, "two"), {"key": [3]})]
