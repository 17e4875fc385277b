"""Fake alert webhooks (WeCom, DingTalk, Feishu, Slack, generic) that record and verify each request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from tests.fakes.http import FakeServer, Request, Response, json_response


class FakeWebhooks(FakeServer):
    """Routes: /wecom, /dingtalk, /feishu, /slack, /generic. `secret` enables signature checks."""

    secret = ""

    async def handle(self, request: Request) -> Response:
        path = request.path
        if self.behaviour.fail_status:
            return json_response({"error": "down"}, self.behaviour.fail_status)
        if path.startswith("/cgi-bin/webhook/send"):
            return json_response({"errcode": 0, "errmsg": "ok"})
        if path.startswith("/robot/send"):
            if self.secret and not self._dingtalk_ok(request):
                return json_response({"errcode": 310000, "errmsg": "sign not match"})
            return json_response({"errcode": 0, "errmsg": "ok"})
        if path.startswith("/open-apis/bot/v2/hook/"):
            if self.secret and not self._feishu_ok(request):
                return json_response({"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})
            return json_response({"code": 0, "msg": "success", "data": {}})
        if path.startswith("/services/"):
            return Response(200, b"ok", "text/plain")
        return json_response({"ok": True})

    def _dingtalk_ok(self, request: Request) -> bool:
        query = request.query
        ts, sign = query.get("timestamp", ""), query.get("sign", "")
        if not ts or abs(int(ts) - time.time() * 1000) > 3600_000:
            return False
        expected = base64.b64encode(
            hmac.new(self.secret.encode(), f"{ts}\n{self.secret}".encode(), hashlib.sha256).digest()
        ).decode()
        # parse_qsl already percent-decoded the sign.
        return hmac.compare_digest(sign, expected)

    def _feishu_ok(self, request: Request) -> bool:
        body = request.json() or {}
        ts, sign = str(body.get("timestamp", "")), str(body.get("sign", ""))
        if not ts or abs(int(ts) - time.time()) > 3600:
            return False
        expected = base64.b64encode(hmac.new(f"{ts}\n{self.secret}".encode(), b"", hashlib.sha256).digest()).decode()
        return hmac.compare_digest(sign, expected)


class KefuWebhookReceiver(FakeServer):
    """A Kefu webhook endpoint as an integrator writes it from docs/api.md: it checks
    X-Kefu-Signature over "<timestamp>.<body>" (refusing timestamps older than 5 minutes)
    and records what it accepted. `script` is the status to answer for each next request
    (then 200), e.g. [500, 503, 200]."""

    def __init__(self, secret: str = "", script: list[int] | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.secret = secret
        self.script = list(script or [])
        self.accepted: list[dict] = []
        self.bad_signatures = 0

    def verify(self, request: Request) -> bool:
        timestamp = request.headers.get("x-kefu-timestamp", "")
        signature = request.headers.get("x-kefu-signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False
        mac = hmac.new(self.secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature, f"v1={mac}")

    async def handle(self, request: Request) -> Response:
        if self.script:
            status = self.script.pop(0)
            if status != 200:
                return json_response({"error": "scripted"}, status)
        if not self.verify(request):
            self.bad_signatures += 1
            return json_response({"error": "bad signature"}, 401)
        self.accepted.append(request.json())
        return json_response({"ok": True})
