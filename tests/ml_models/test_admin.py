"""Admin of class dictionaries (with per-class counts from the task summaries) and of
model versions (activation one per kind, metrics, card and plots)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries

from ml_models.models import ModelVersion, ObjectClass, SceneClass
from predictions.models import Task
from tests.factories import ModelVersionFactory, TaskFactory

pytestmark = pytest.mark.django_db(databases="__all__")


def test_object_classes_count_objects_from_task_summaries(
    admin_client: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    TaskFactory.create(status=Task.Status.DONE, object_counts={"circle": 2, "star": 1})
    TaskFactory.create(status=Task.Status.DONE, object_counts={"circle": 3})
    TaskFactory.create(status=Task.Status.QUEUED, object_counts={"circle": 100})

    with django_assert_max_num_queries(8):
        response = admin_client.get(reverse("admin:ml_models_objectclass_changelist"))

    counts = {entry.name: entry.predictions for entry in response.context["cl"].result_list}
    assert counts["circle"] == 5
    assert counts["star"] == 1
    assert counts["hexagon"] == 0
    # Counted from the leader's summaries: no query touches the predictions table.
    assert "predictions_prediction" not in response.content.decode()


def test_scene_classes_count_finished_tasks(admin_client: Client) -> None:
    house = SceneClass.objects.get(name="house")
    TaskFactory.create_batch(2, status=Task.Status.DONE, scene_class=house)

    response = admin_client.get(reverse("admin:ml_models_sceneclass_changelist"))

    counts = {entry.name: entry.predictions for entry in response.context["cl"].result_list}
    assert counts["house"] == 2
    assert counts["car"] == 0


def test_class_colour_and_name_are_editable_in_the_list(admin_client: Client) -> None:
    star = ObjectClass.objects.get(name="star")
    response = admin_client.get(reverse("admin:ml_models_objectclass_change", args=[star.pk]))
    assert response.status_code == 200
    assert 'name="colour"' in response.content.decode()


def test_activate_makes_one_version_per_kind_active(admin_client: Client) -> None:
    old = ModelVersionFactory.create(kind=ModelVersion.Kind.SCENE, name="old-scene")
    ModelVersion.objects.filter(kind=ModelVersion.Kind.SCENE).update(is_active=False)
    ModelVersion.objects.filter(pk=old.pk).update(is_active=True)
    new = ModelVersionFactory.create(kind=ModelVersion.Kind.SCENE, name="new-scene")

    response = admin_client.post(
        reverse("admin:ml_models_modelversion_changelist"),
        {"action": "activate", "_selected_action": [str(new.pk)]},
        follow=True,
    )

    assert "Activated new-scene: the active scene classifier now." in response.content.decode()
    assert list(
        ModelVersion.objects.filter(kind=ModelVersion.Kind.SCENE, is_active=True).values_list(
            "name", flat=True
        )
    ) == ["new-scene"]


def test_activating_two_of_one_kind_is_refused(admin_client: Client) -> None:
    first = ModelVersionFactory.create(kind=ModelVersion.Kind.DETECTOR)
    second = ModelVersionFactory.create(kind=ModelVersion.Kind.DETECTOR)
    before = set(ModelVersion.objects.filter(is_active=True).values_list("pk", flat=True))

    response = admin_client.post(
        reverse("admin:ml_models_modelversion_changelist"),
        {"action": "activate", "_selected_action": [str(first.pk), str(second.pk)]},
        follow=True,
    )

    assert "at most one version of each kind" in response.content.decode()
    assert set(ModelVersion.objects.filter(is_active=True).values_list("pk", flat=True)) == before


def test_version_page_shows_metrics_card_and_plots_read_only(admin_client: Client) -> None:
    version = ModelVersionFactory.create(
        card={"training": {"epochs": 12}},
        metrics={
            "map_50": 0.8123,
            "evaluation": {"detection": {"plot": "model_metrics/x/per_class_ap.png"}},
        },
    )

    response = admin_client.get(reverse("admin:ml_models_modelversion_change", args=[version.pk]))

    content = response.content.decode()
    assert "0.8123" in content
    assert "&quot;epochs&quot;: 12" in content
    assert reverse("predictions:model_plot", args=[version.pk, "detection"]) in content
    assert 'name="metrics"' not in content and 'name="card"' not in content
