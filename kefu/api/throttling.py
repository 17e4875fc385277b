"""Rate limits of the REST API, keyed by the identity the request authenticated with:
the API key, the agent's user, or (anonymous) the client IP. Over the limit: 429 with
code rate_limited and Retry-After (seconds until the counting window ends).

Counters are the shared fixed windows of kefu.ratelimit (Redis with several processes,
one pipelined round trip); a cache outage lets requests through rather than failing them.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from kefu import ratelimit
from kefu.models import ApiKey


def _identity(request: Request) -> tuple[str, str, int]:
    try:
        auth, user = request.auth, request.user
    except APIException:  # a wrong key: counted against the caller's address
        auth, user = None, None
    if isinstance(auth, ApiKey):
        return "apikey", str(auth.pk), settings.KEFU_API_RATE_KEY_PER_MINUTE
    if user is not None and user.is_authenticated:
        return "apiuser", str(user.pk), settings.KEFU_API_RATE_SESSION_PER_MINUTE
    ip = ratelimit.client_ip(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"))
    return "apiip", ip, settings.KEFU_API_RATE_IP_PER_MINUTE


class IdentityRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        scope, key, limit = _identity(request)
        if ratelimit.hit(scope, key, limit):
            return True
        self._wait = 60 - time.time() % 60
        return False

    def wait(self) -> float | None:
        return self._wait
