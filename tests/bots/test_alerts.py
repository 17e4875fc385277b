"""Alert webhooks: exact bodies and signatures per service, response checks, Redis de-duplication."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from urllib.parse import unquote_plus

import httpx2
import pytest
from redis.asyncio import Redis

from bots.alerts import Alert, AlertDispatcher, AlertTarget, dingtalk_sign, feishu_sign, prepare
from kefu import outbound
from tests.fakes.http import Behaviour
from tests.fakes.redirect_server import FakeRedirect
from tests.fakes.webhook_server import FakeWebhooks

ALERT = Alert("t1:dify", "opened", "AI outage: dify", "3 failures")


@pytest.fixture(autouse=True)
async def _fakes_are_allowed(settings) -> AsyncIterator[None]:  # noqa: ANN001
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]  # where the fakes listen; the guard refuses it otherwise
    yield
    await outbound.close_shared_async_client()  # this test's loop ends here


@pytest.fixture
async def redis(settings) -> AsyncIterator[Redis]:  # noqa: ANN001
    client = Redis.from_url(settings.REDIS_URL)
    yield client
    await client.aclose()


def test_dingtalk_signature_matches_reference_algorithm() -> None:
    secret, ts = "SECabc", 1700000000000
    expected = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest())
    assert unquote_plus(dingtalk_sign(secret, ts)) == expected.decode()
    prepared = prepare(
        AlertTarget("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=T", "SECabc"),
        ALERT,
        now=1700000000.0,
    )
    assert prepared.url.startswith("https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1700000000000&sign=")
    assert prepared.json["msgtype"] == "text" and prepared.json["at"]["isAtAll"] is False


def test_feishu_signature_uses_string_to_sign_as_key() -> None:
    expected = base64.b64encode(hmac.new(b"1599360473\nsecret", b"", hashlib.sha256).digest()).decode()
    assert feishu_sign("secret", 1599360473) == expected
    body = prepare(
        AlertTarget("feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/X", "secret"), ALERT, now=1599360473.9
    ).json
    assert body == {
        "timestamp": "1599360473",
        "sign": expected,
        "msg_type": "text",
        "content": {"text": "AI outage: dify\n3 failures"},
    }


def test_bodies_for_wecom_slack_generic() -> None:
    wecom = prepare(AlertTarget("wecom", "u", mention_mobiles=("13800001111",)), ALERT).json
    assert wecom == {
        "msgtype": "text",
        "text": {"content": "AI outage: dify\n3 failures", "mentioned_mobile_list": ["13800001111"]},
    }
    long = prepare(AlertTarget("wecom", "u"), Alert("p", "opened", "告警" * 2000)).json
    assert len(long["text"]["content"].encode()) <= 2048
    assert prepare(AlertTarget("slack", "u"), ALERT).json == {"text": "AI outage: dify\n3 failures"}
    generic = prepare(AlertTarget("generic", "u"), ALERT, now=5.0).json
    assert generic["provider"] == "t1:dify" and generic["state"] == "opened" and generic["at"] == 5


@pytest.mark.redis
async def test_dispatch_to_every_service_verified_by_fake_and_deduplicated(redis: Redis) -> None:
    server = FakeWebhooks()
    server.secret = "SECsecret"
    with server:
        targets = [
            AlertTarget("wecom", f"{server.url}/cgi-bin/webhook/send?key=K"),
            AlertTarget("dingtalk", f"{server.url}/robot/send?access_token=T", "SECsecret"),
            AlertTarget("feishu", f"{server.url}/open-apis/bot/v2/hook/TOKEN", "SECsecret"),
            AlertTarget("slack", f"{server.url}/services/T0/B0/X"),
            AlertTarget("generic", f"{server.url}/generic"),
        ]
        dispatcher = AlertDispatcher(targets, redis=redis, window=60, prefix=f"test:{uuid.uuid4()}:")
        assert await dispatcher.send(ALERT) == []
        assert len(server.requests) == 5
        assert await dispatcher.send(ALERT) == [], "duplicate is silently dropped"
        assert len(server.requests) == 5
        await dispatcher.on_breaker_transition("t1:dify", "recovered")
        assert len(server.requests) == 10
    paths = [r.path for r in server.requests[:5]]
    assert paths == [
        "/cgi-bin/webhook/send",
        "/robot/send",
        "/open-apis/bot/v2/hook/TOKEN",
        "/services/T0/B0/X",
        "/generic",
    ]
    assert "recovered" in server.requests[9].json()["state"]


@pytest.mark.redis
async def test_bad_signature_and_http_errors_are_reported(redis: Redis) -> None:
    server = FakeWebhooks()
    server.secret = "SECright"
    with server:
        targets = [
            AlertTarget("dingtalk", f"{server.url}/robot/send?access_token=T", "SECwrong"),
            AlertTarget("feishu", f"{server.url}/open-apis/bot/v2/hook/T", "SECwrong"),
        ]
        failures = await AlertDispatcher(targets, redis=redis, prefix=f"test:{uuid.uuid4()}:").send(ALERT)
    assert len(failures) == 2 and "310000" in failures[0] and "19021" in failures[1]
    with FakeWebhooks(Behaviour(fail_status=500)) as down:
        async with httpx2.AsyncClient() as client:
            dispatcher = AlertDispatcher([AlertTarget("slack", f"{down.url}/services/x")], redis=None, client=client)
            failures = await dispatcher.send(ALERT)
    assert failures and "HTTP 500" in failures[0]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_an_alert_channel_cannot_reach_a_private_address(settings, host: str) -> None:  # noqa: ANN001
    """Tenant admins choose these URLs: an address literal or a name resolving to loopback is refused."""
    settings.KEFU_OUTBOUND_ALLOWLIST = []
    with FakeWebhooks() as server:
        target = AlertTarget("generic", f"http://{host}:{server.port}/generic")
        failures = await AlertDispatcher([target], redis=None).send(ALERT)
    assert failures and "non-public" in failures[0]
    assert server.requests == []


async def test_an_alert_redirect_to_loopback_is_not_followed_nor_counted_as_delivered(settings) -> None:  # noqa: ANN001
    settings.KEFU_OUTBOUND_ALLOWLIST = ["localhost"]
    with FakeWebhooks() as internal, FakeRedirect(f"{internal.url}/generic") as hop:
        target = AlertTarget("generic", f"http://localhost:{hop.port}/generic")
        failures = await AlertDispatcher([target], redis=None).send(ALERT)
        assert len(hop.requests) == 1
    assert failures and "HTTP 307" in failures[0]
    assert internal.requests == []
