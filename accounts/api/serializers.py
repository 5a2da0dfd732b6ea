from __future__ import annotations

from rest_framework import serializers

from accounts.models import ApiToken


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    """A token as lists show it: never with its key."""

    class Meta:
        model = ApiToken
        fields = ["id", "name", "key_prefix", "created_at", "last_used_at"]
        read_only_fields = fields


class ApiTokenCreateInputSerializer(serializers.Serializer[None]):  # pylint: disable=abstract-method
    """Input only: it parses, ``api_token_create`` creates."""

    name = serializers.CharField(max_length=100)


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    """A token just made, with its key: the only time the key is ever shown."""

    key = serializers.SerializerMethodField(help_text="The key; it cannot be shown again.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]
        read_only_fields = fields

    def get_key(self, _token: ApiToken) -> str:
        return str(self.context["key"])
