"""The task admin: status filters, predictions read from the task's shard, staff rerun."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries

from predictions.models import Task
from sql_shards.selectors import LEADER, shard_for_task
from tests.conftest import shard_unreachable
from tests.factories import TaskFactory, UserFactory
from tests.predictions.test_views import done_task

pytestmark = pytest.mark.django_db(databases="__all__")


def test_staff_see_every_users_tasks_filtered_by_status(
    admin_client: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    done = done_task(UserFactory.create(), original_name="finished.png")
    TaskFactory.create_batch(20, status=Task.Status.QUEUED)

    with django_assert_max_num_queries(12):
        response = admin_client.get(
            reverse("admin:predictions_task_changelist"), {"status__exact": "done"}
        )

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [done]


def test_the_task_page_lists_its_predictions_from_its_shard(admin_client: Client) -> None:
    task = done_task(UserFactory.create())

    response = admin_client.get(reverse("admin:predictions_task_change", args=[task.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert "triangle" in content and "0.930" in content and "10, 5, 60, 40" in content
    assert shard_for_task(task_id=task.pk) in content


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_the_task_page_names_a_shard_that_is_down(admin_client: Client) -> None:
    owner = UserFactory.create()
    task = done_task(owner)
    while shard_for_task(task_id=task.pk) == LEADER:
        task = done_task(owner)
    shard = shard_for_task(task_id=task.pk)

    with shard_unreachable(shard):
        response = admin_client.get(reverse("admin:predictions_task_change", args=[task.pk]))

    assert response.status_code == 200
    assert f"Shard {shard} is unavailable." in response.content.decode()


def test_staff_rerun_anyones_tasks(admin_client: Client) -> None:
    tasks = [done_task(UserFactory.create()), done_task(UserFactory.create())]

    response = admin_client.post(
        reverse("admin:predictions_task_changelist"),
        {"action": "rerun", "_selected_action": [str(task.pk) for task in tasks]},
        follow=True,
    )

    assert "Queued 2 task(s) to run again." in response.content.decode()
    assert set(Task.objects.values_list("status", flat=True)) == {Task.Status.QUEUED}


def test_tasks_cannot_be_added_or_edited_in_the_admin(admin_client: Client) -> None:
    task = TaskFactory.create()
    assert admin_client.get(reverse("admin:predictions_task_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:predictions_task_change", args=[task.pk]), {"status": "done"}
    )
    assert response.status_code == 403
    task.refresh_from_db()
    assert task.status == Task.Status.QUEUED


def test_non_staff_cannot_open_the_task_admin(client: Client) -> None:
    client.force_login(UserFactory.create())
    response = client.get(reverse("admin:predictions_task_changelist"))
    assert response.status_code == 302
