"""Helpers for widget browser tests: drive the widget in a page, act as the agent, wait on the database."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import close_old_connections, connections

from kefu import events
from kefu.models import Conversation, Message, Presence, Tenant
from kefu.services.messages import message_send

T = TypeVar("T")
WAIT = 20.0  # generous: the machine is shared; this bounds a hang, it measures nothing


def wait_for(check: Callable[[], T], *, timeout: float = WAIT, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy (reads what the server committed)."""
    deadline = time.monotonic() + timeout
    while True:
        close_old_connections()
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` in a plain thread.

    Playwright's sync API keeps an event loop in the test thread, where async_to_sync
    refuses to run; so channel-layer calls (events.broadcast, and services that
    broadcast on commit, such as message_send) must run elsewhere or they are dropped.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_with_fresh_connection, fn, *args, **kwargs).result(timeout=60)


def _with_fresh_connection(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    finally:
        connections.close_all()


def broadcast(groups: list[str], event: dict[str, Any]) -> None:
    off_loop(events.broadcast, groups, event)


def send_message(**kwargs: Any) -> Any:
    """message_send as the agent or bot would, with its live events actually delivered."""
    return off_loop(message_send, **kwargs).message


def widget(page: Any) -> Any:
    """The widget's shadow host; locators under it pierce the (test-opened) shadow root."""
    return page.locator("[data-kefu]")


def open_widget(page: Any, url: str) -> Any:
    page.goto(url)
    w = widget(page)
    w.locator(".lau").click()
    w.locator(".isopen .panel").wait_for(state="visible")
    return w


def type_and_send(page: Any, text: str) -> None:
    box = widget(page).locator("textarea")
    box.fill(text)
    box.press("Enter")


def conversation_of(tenant: Tenant) -> Conversation:
    return wait_for(lambda: Conversation.objects.filter(tenant=tenant).order_by("-pk").first(), what="a conversation")


def visitor_messages(conversation: Conversation) -> list[Message]:
    return list(Message.objects.filter(conversation=conversation, sender_type="visitor").order_by("seq"))


def api_post(url: str, token: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Act as the agent through the public REST API (the same path an integration would use)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def online_agent(tenant: Tenant, name: str = "Alice") -> Any:
    from tests.factories import AgentFactory

    return AgentFactory(tenant=tenant, display_name=name, presence=Presence.ONLINE)


class GroupObserver:
    """Listens to one channel-layer group from a loop of its own and keeps the events.

    Channel names of the pub/sub layer belong to the loop that made them, so creating the
    channel, joining the group and receiving all happen on this one loop.
    """

    def __init__(self, group: str) -> None:
        import asyncio
        import threading

        from channels.layers import get_channel_layer

        self.events: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        layer = get_channel_layer()

        async def listen() -> None:
            channel = await layer.new_channel()
            await layer.group_add(group, channel)
            ready.set()
            while True:
                self.events.append(await layer.receive(channel))

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._task = self._loop.create_task(listen())
            try:
                self._loop.run_until_complete(self._task)
            except BaseException:  # cancelled by stop()
                pass

        threading.Thread(target=run, daemon=True).start()
        if not ready.wait(10):
            raise AssertionError(f"could not join {group}")

    def first(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        return next((event for event in list(self.events) if predicate(event)), None)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
