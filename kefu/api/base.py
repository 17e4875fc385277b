"""The base of every REST view: rate limits are counted before permissions are judged,
so anonymous calls and wrong keys spend their IP's budget (key guessing is limited)."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.views import APIView


class KefuApiView(APIView):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # DRF's order is authenticate, permissions, throttles; ours: throttles first
        # (a failed authentication is counted as the anonymous caller it is).
        self.format_kwarg = self.get_format_suffix(**kwargs)
        neg = self.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = neg
        version, scheme = self.determine_version(request, *args, **kwargs)
        request.version, request.versioning_scheme = version, scheme
        try:
            self.perform_authentication(request)
        except APIException:
            self.check_throttles(request)
            raise
        self.check_throttles(request)
        self.check_permissions(request)
