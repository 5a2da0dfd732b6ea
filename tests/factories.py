"""factory_boy factories shared by the test suite."""

from __future__ import annotations

from typing import Any

import factory

from accounts.keys import KEY_PREFIX_LENGTH, api_key_generate, api_key_hash
from accounts.models import ApiToken, User
from ml_models.models import ModelVersion
from predictions.models import Task


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda number: f"user{number}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class ModelVersionFactory(factory.django.DjangoModelFactory[ModelVersion]):
    class Meta:
        model = ModelVersion

    kind = ModelVersion.Kind.DETECTOR
    name = factory.Sequence(lambda number: f"test-model-{number}")
    architecture = "resnet18"
    weights_path = "test.safetensors"
    classes: Any = factory.LazyFunction(lambda: ["circle", "square"])


class TaskFactory(factory.django.DjangoModelFactory[Task]):
    class Meta:
        model = Task

    owner = factory.SubFactory(UserFactory)
    image = factory.Sequence(lambda number: f"originals/test-{number}.png")
    original_name = factory.Sequence(lambda number: f"test-{number}.png")
    content_hash = factory.Sequence(lambda number: f"{number:064x}")
    width = 640
    height = 480


class ApiTokenFactory(factory.django.DjangoModelFactory[ApiToken]):
    """A token made from the parameter ``key``; pass one to know the token's key."""

    class Meta:
        model = ApiToken

    class Params:
        key = factory.LazyFunction(api_key_generate)

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda number: f"token {number}")
    key_prefix = factory.LazyAttribute(lambda token: token.key[:KEY_PREFIX_LENGTH])
    key_hash = factory.LazyAttribute(lambda token: api_key_hash(token.key))
