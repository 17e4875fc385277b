"""Tenant-scoped fetches of bot rows for the console: a miss and another tenant's row look the same."""

from __future__ import annotations

from bots.models import AlertChannel, Bot, BusinessHook
from kefu.access import _get
from kefu.models import Tenant


def access_bot(*, tenant: Tenant, bot_id: object) -> Bot:
    return _get(Bot.objects.filter(tenant=tenant).select_related("backup"), pk=bot_id)


def access_business_hook(*, tenant: Tenant, hook_id: object) -> BusinessHook:
    return _get(BusinessHook.objects.filter(tenant=tenant), pk=hook_id)


def access_alert_channel(*, tenant: Tenant, channel_id: object) -> AlertChannel:
    return _get(AlertChannel.objects.filter(tenant=tenant), pk=channel_id)
