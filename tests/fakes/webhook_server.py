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
