from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateInputSerializer,
    ApiTokenSerializer,
)
from accounts.models import User
from accounts.selectors import api_tokens_for_user
from accounts.services import api_token_create, api_token_revoke


def _user(request: Request) -> User:
    # IsAuthenticated has already run; this tells the type checker so.
    if not isinstance(request.user, User):
        raise NotAuthenticated
    return request.user


class ApiTokenListCreateView(APIView):
    """The signed-in user's API tokens."""

    @extend_schema(responses=ApiTokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        """List your tokens that still work (without their keys), newest first."""
        tokens = api_tokens_for_user(user=_user(request))
        return Response(ApiTokenSerializer(tokens, many=True).data)

    @extend_schema(
        request=ApiTokenCreateInputSerializer, responses={201: ApiTokenCreatedSerializer}
    )
    def post(self, request: Request) -> Response:
        """Create a token; the response holds its key, which is never shown again."""
        serializer = ApiTokenCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = api_token_create(user=_user(request), name=serializer.validated_data["name"])
        output = ApiTokenCreatedSerializer(token, context={"key": key})
        response = Response(output.data, status=status.HTTP_201_CREATED)
        add_never_cache_headers(response)  # the key must not linger in any cache
        return response


class ApiTokenDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, token_id: int) -> Response:
        """Revoke one of your tokens; requests with its key fail from now on."""
        token = get_object_or_404(api_tokens_for_user(user=_user(request)), pk=token_id)
        api_token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
