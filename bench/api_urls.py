"""The product's URLs plus a bare Django view and a bare DRF view (same middleware stack)."""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def bare_django(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"results": [], "next_cursor": None})


class BareDrf(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []

    def get(self, request: Request) -> Response:
        return Response({"results": [], "next_cursor": None})


urlpatterns = [
    path("bench/bare-django", bare_django),
    path("bench/bare-drf", BareDrf.as_view()),
    path("", include("kefu.urls")),
]
