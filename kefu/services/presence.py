"""Agent presence (online / away / offline) and whether an inbox can answer right now.

An agent may have several tabs, on several server processes. Each socket is a member
of a per-agent sorted set in Redis whose score is its expiry; heartbeats push the
expiry forward, so a crashed process cannot leave an agent online for ever. Without
Redis (the embedded single-process default) the set lives in this process. The last
socket closing does not flip the agent offline at once: a grace period covers page
reloads, and a periodic sweep covers processes that died.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import zoneinfo
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from kefu import events
from kefu.models import Agent, Channel, Inbox, Presence, Tenant

logger = logging.getLogger(__name__)

SOCKET_TTL = 90.0  # seconds a socket counts as live without a heartbeat
HEARTBEAT_INTERVAL = 30.0


class _LocalRegistry:
    def __init__(self) -> None:
        self._sockets: dict[int, dict[str, float]] = {}
        self._lock = threading.Lock()

    def add(self, agent_id: int, channel: str) -> None:
        with self._lock:
            self._sockets.setdefault(agent_id, {})[channel] = time.time() + SOCKET_TTL

    def remove(self, agent_id: int, channel: str) -> None:
        with self._lock:
            self._sockets.get(agent_id, {}).pop(channel, None)

    def live(self, agent_id: int) -> int:
        now = time.time()
        with self._lock:
            sockets = self._sockets.get(agent_id, {})
            for channel in [c for c, expiry in sockets.items() if expiry < now]:
                del sockets[channel]
            return len(sockets)


class _RedisRegistry:
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self._prefix = prefix

    def _key(self, agent_id: int) -> str:
        return f"{self._prefix}:presence:{agent_id}"

    def add(self, agent_id: int, channel: str) -> None:
        key = self._key(agent_id)
        pipe = self._client.pipeline()
        pipe.zadd(key, {channel: time.time() + SOCKET_TTL})
        pipe.expire(key, int(SOCKET_TTL * 2))
        pipe.execute()

    def remove(self, agent_id: int, channel: str) -> None:
        self._client.zrem(self._key(agent_id), channel)

    def live(self, agent_id: int) -> int:
        key = self._key(agent_id)
        now = time.time()
        pipe = self._client.pipeline()
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
        return int(pipe.execute()[1])


_registry: _LocalRegistry | _RedisRegistry | None = None
_registry_lock = threading.Lock()


def _get_registry() -> _LocalRegistry | _RedisRegistry:
    global _registry
    with _registry_lock:
        if _registry is None:
            if settings.REDIS_URL:
                prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "kefu")
                _registry = _RedisRegistry(settings.REDIS_URL, prefix)
            else:
                _registry = _LocalRegistry()
        return _registry


def live_sockets(agent_id: int) -> int:
    """Live sockets of an agent; -1 when the registry cannot be read (do not flip anyone)."""
    try:
        return _get_registry().live(agent_id)
    except Exception:
        logger.warning("presence registry unavailable", exc_info=True)
        return -1


def presence_socket_opened(*, agent: Agent, channel_name: str) -> str:
    try:
        _get_registry().add(agent.pk, channel_name)
    except Exception:
        logger.warning("presence registry unavailable", exc_info=True)
    if agent.presence == Presence.OFFLINE:
        agent_set_presence(agent=agent, status=Presence.ONLINE)
    return agent.presence


def presence_heartbeat(*, agent_id: int, channel_name: str) -> None:
    try:
        _get_registry().add(agent_id, channel_name)
    except Exception:
        logger.warning("presence heartbeat not recorded", exc_info=True)


def presence_socket_closed(*, agent_id: int, channel_name: str) -> bool:
    """True when this was the agent's last live socket (an offline check should follow)."""
    try:
        _get_registry().remove(agent_id, channel_name)
    except Exception:
        logger.warning("presence registry unavailable", exc_info=True)
        return False
    return live_sockets(agent_id) == 0


def presence_check_offline(*, agent_id: int) -> bool:
    """After the grace period: offline if still no live socket. True when flipped."""
    if live_sockets(agent_id) != 0:
        return False
    agent = Agent.objects.filter(pk=agent_id).select_related("tenant").first()
    if agent is None or agent.presence == Presence.OFFLINE:
        return False
    agent_set_presence(agent=agent, status=Presence.OFFLINE)
    return True


def presence_sweep() -> int:
    """Agents shown online whose sockets all expired (a process died). Returns how many."""
    grace = dt.timedelta(seconds=settings.KEFU_PRESENCE_GRACE_SECONDS)
    stale = (
        Agent.objects.exclude(presence=Presence.OFFLINE)
        .filter(presence_changed_at__lt=timezone.now() - grace)
        .values_list("pk", flat=True)
    )
    return sum(presence_check_offline(agent_id=agent_id) for agent_id in list(stale[:1000]))


def agent_set_presence(*, agent: Agent, status: str) -> Agent:
    if status not in Presence.values:
        from kefu.errors import InvalidInput

        raise InvalidInput(code="invalid")
    if agent.presence == status:
        return agent
    agent.presence, agent.presence_changed_at = status, timezone.now()
    Agent.objects.filter(pk=agent.pk).update(presence=status, presence_changed_at=agent.presence_changed_at)
    events.broadcast(
        [events.inbox_group(agent.tenant_id)],
        {
            "type": "kefu.presence",
            "agent_id": agent.pk,
            "status": status,
        },
    )
    tenant_online_refresh(tenant_id=agent.tenant_id)
    if status == Presence.ONLINE:
        from kefu.tasks import route_tenant

        route_tenant.delay_on_commit(agent.tenant_id)
    return agent


def business_hours_open(inbox: Inbox, now: dt.datetime | None = None) -> bool:
    """inbox.business_hours: {"0": [["09:00", "18:00"]], ...} with 0 = Monday, in the
    inbox's time zone (else the tenant's); empty = always open."""
    hours: dict[str, Any] = inbox.business_hours or {}
    if not hours:
        return True
    try:
        zone = zoneinfo.ZoneInfo(inbox.effective_timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    local = (now or timezone.now()).astimezone(zone)
    spans = hours.get(str(local.weekday())) or []
    clock = local.strftime("%H:%M")
    for span in spans:
        try:
            start, end = str(span[0]), str(span[1])
        except (IndexError, TypeError):
            continue
        if start <= clock < end:
            return True
    return False


def business_hours_next_opening(inbox: Inbox, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the inbox's business hours next begin after `now` (within a week), or None
    when they are not set."""
    hours: dict[str, Any] = inbox.business_hours or {}
    if not hours:
        return None
    try:
        zone = zoneinfo.ZoneInfo(inbox.effective_timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    local = (now or timezone.now()).astimezone(zone)
    for days in range(8):
        day = local.date() + dt.timedelta(days=days)
        starts = []
        for span in hours.get(str(day.weekday())) or []:
            try:
                hour, minute = (int(part) for part in str(span[0]).split(":"))
                starts.append(dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone))
            except (IndexError, TypeError, ValueError):
                continue
        later = [start for start in starts if start > local]
        if later:
            return min(later)
    return None


# "Is any agent online" is asked on every visitor connect (a reconnect storm asks it
# thousands of times a second) but changes only with presence: the shared cache holds it,
# rewritten on every presence change and dropped when an agent is saved or deleted. The
# short TTL bounds the damage of a lost race between two processes' rewrites.
AGENTS_ONLINE_TTL = 30


def _agents_online_key(tenant_id: int) -> str:
    return f"kefu:agents-online:{tenant_id}"


def _agents_online_query(tenant_id: int) -> bool:
    return Agent.objects.filter(tenant_id=tenant_id, is_active=True, presence=Presence.ONLINE).exists()


def agents_online(tenant_id: int) -> bool:
    key = _agents_online_key(tenant_id)
    try:
        cached = cache.get(key)
    except Exception:
        cached = None
    if cached is not None:
        return bool(cached)
    online = _agents_online_query(tenant_id)
    try:
        cache.set(key, online, timeout=AGENTS_ONLINE_TTL)
    except Exception:
        logger.warning("presence cache unavailable", exc_info=True)
    return online


def agents_online_forget(tenant_id: int) -> None:
    try:
        cache.delete(_agents_online_key(tenant_id))
    except Exception:
        logger.warning("presence cache unavailable", exc_info=True)


def inbox_is_online(inbox: Inbox) -> bool:
    """Someone can answer in this inbox now: inside its business hours and at least one
    agent of the tenant online."""
    return business_hours_open(inbox) and agents_online(inbox.tenant_id)


def tenant_online_refresh(*, tenant_id: int) -> None:
    """Tell the tenant's visitors when "someone can answer" flips in any of its widget
    inboxes; nothing when nothing did. The event carries every widget inbox's answer, and
    each visitor socket reads its own."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return
    agents = _agents_online_query(tenant_id)
    try:
        cache.set(_agents_online_key(tenant_id), agents, timeout=AGENTS_ONLINE_TTL)
    except Exception:
        logger.warning("presence cache unavailable", exc_info=True)
    inboxes = Inbox.objects.filter(tenant_id=tenant_id, channel=Channel.WIDGET, is_active=True)
    online = {str(inbox.pk): agents and business_hours_open(_with_tenant(inbox, tenant)) for inbox in inboxes}
    key = f"kefu:online:{tenant_id}"
    try:
        previous = cache.get(key)
        cache.set(key, online, timeout=24 * 3600)
    except Exception:
        previous = None
    if previous != online:
        events.broadcast(
            [events.tenant_visitors_group(tenant_id)],
            {"type": "kefu.online", "online": any(online.values()), "inboxes": online},
        )


def _with_tenant(inbox: Inbox, tenant: Tenant) -> Inbox:
    inbox.tenant = tenant
    return inbox
