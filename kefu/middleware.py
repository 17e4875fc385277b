"""Request middleware of the core."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.auth import logout
from django.http import HttpRequest

from kefu.models import Agent


def _revoked(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_superuser:
        return False
    agent = Agent.objects.filter(user=user).select_related("tenant").only("is_active", "tenant__is_active").first()
    return agent is not None and (not agent.is_active or not agent.tenant.is_active)


class ActiveAgentMiddleware:
    """A deactivated agent (or one of a disabled tenant) loses the session at once."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        if _revoked(request):
            logout(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> Any:
        if await sync_to_async(_revoked)(request):
            await sync_to_async(logout)(request)
        return await self.get_response(request)
