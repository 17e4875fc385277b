"""FastGPT OpenAPI chat completions with a client-chosen chatId per conversation, and
knowledge-base (dataset) search for the hybrid engine.

FastGPT errors may arrive as HTTP 200 or 500 JSON envelopes whose `code` is not 200,
and the detail stream continues after `[DONE]` (flowResponses), so it is read to EOF.

FastGPT takes no system prompt from the API (with a chatId it reads only the last
message), so the prompt Kefu would give a model (the bot's system prompt plus the
engine's reference material) is passed as the variable `kefu_system_prompt`, which the
app's prompt can include as {{kefu_system_prompt}}.

Dataset search (`extra["dataset_id"]`): POST /api/core/dataset/searchTest on the same
host. Both response shapes are accepted (`data` as a list with numeric scores, or
`data.list` with a list of typed scores).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx2

from bots.interface import (
    BotRequest,
    Delta,
    Done,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    Source,
    StreamEvent,
    Usage,
)
from bots.providers.base import (
    Provider,
    auth_headers,
    error_for_status,
    http_client,
    http_timeout,
    is_event_stream,
    join_url,
    parse_retry_after,
    read_json_body,
    transport_error,
)
from bots.sse import SSEEvent, aiter_events

STATE_KEY = "fastgpt_chat_id"
AUTH_STATUS_TEXTS = {"unAuthApiKey", "unAuthorization", "unAuthApp"}
PROMPT_VARIABLE = "kefu_system_prompt"
SEARCH_MODES = ("embedding", "fullTextRecall", "mixedRecall")
# Dataset search defaults, each overridable in the bot's provider options.
DEFAULT_SEARCH = {"dataset_limit": 1500, "dataset_similarity": 0.4, "dataset_search_mode": "embedding"}
MAX_PASSAGES = 5
# Preferred score kinds of the newer response shape: reranker, then vector, then fused, then full text.
SCORE_PREFERENCE = ("reRank", "embedding", "rrf", "fullText")


def fastgpt_error(body: Any, status: int) -> ProviderError:
    if not isinstance(body, dict):
        return error_for_status(status if status >= 400 else 502, f"fastgpt: {body!r}")
    code = body.get("code")
    status_text = str(body.get("statusText") or "")
    text = f"fastgpt {code} {status_text}: {body.get('message', '')}"
    if status_text in AUTH_STATUS_TEXTS or code in (401, 403, 514):
        return ProviderAuthError(text, status=status)
    if status_text == "insufficientQuota" or code == 510:
        return ProviderError(text, status=status, transient=False)
    if status >= 500 and not status_text:
        return ProviderError(text, status=status, transient=True)
    return ProviderError(text, status=status, transient=status >= 500)


def _chunk_text(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    choices = data.get("choices") or []
    if not choices:
        return ""
    delta = choices[0].get("delta") or {}
    return delta.get("content") or ""


def _sum_tokens(nodes: Any) -> int:
    total = 0
    for node in nodes if isinstance(nodes, list) else ():
        if isinstance(node, dict):
            for key in ("tokens", "inputTokens", "outputTokens"):
                value = node.get(key)
                if isinstance(value, int | float):
                    total += int(value)
    return total


def api_root(base_url: str) -> str:
    """`https://host/api` from the chat base URL (`https://host/api/v1`, `https://host/api` or `https://host`)."""
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root if root.endswith("/api") else root + "/api"


def passage_score(raw: Any) -> float | None:
    """A numeric score, or the preferred one of a list of `{type, value}` scores, clamped to 0..1."""
    value: Any = raw
    if isinstance(raw, list):
        typed = {str(item.get("type")): item.get("value") for item in raw if isinstance(item, dict)}
        value = next((typed[kind] for kind in SCORE_PREFERENCE if isinstance(typed.get(kind), int | float)), None)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return max(0.0, min(float(value), 1.0))


def parse_passages(data: Any) -> list[Source]:
    """Passages of a searchTest answer, best first."""
    items = data.get("list") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ProviderBadResponse("fastgpt: dataset search returned no list", transient=True)
    passages: list[Source] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        question, answer = str(item.get("q") or "").strip(), str(item.get("a") or "").strip()
        content = f"{question}\n{answer}" if answer else question
        if content:
            passages.append(
                Source(
                    title=str(item.get("sourceName") or item.get("datasetId") or ""),
                    content=content,
                    url=str(item.get("id") or ""),
                    score=passage_score(item.get("score")),
                )
            )
    passages.sort(key=lambda p: p.score if p.score is not None else -1.0, reverse=True)
    return passages[:MAX_PASSAGES]


class FastGPTProvider(Provider):
    kind = "fastgpt"

    def chat_id(self, request: BotRequest) -> str:
        return str(request.provider_state.get(STATE_KEY) or f"kefu-{request.conversation_key}")[:240]

    async def _stream(self, request: BotRequest) -> AsyncIterator[StreamEvent]:
        detail = bool(self.config.extra.get("detail", False))
        chat_id = self.chat_id(request)
        body: dict[str, Any] = {
            "chatId": chat_id,
            "stream": True,
            "detail": detail,
            # With a chatId FastGPT loads the history itself and reads only the last message.
            "messages": [{"role": "user", "content": request.question}],
            "variables": {"uid": request.visitor_id, **(self.config.extra.get("variables") or {})},
        }
        system_prompt = request.system_prompt or self.config.system_prompt
        if system_prompt:
            body["variables"][PROMPT_VARIABLE] = system_prompt
        url = join_url(self.config.base_url, "chat/completions")
        try:
            async with http_client().stream(
                "POST", url, json=body, headers=auth_headers(self.config), timeout=http_timeout(self.config)
            ) as response:
                if not is_event_stream(response):
                    payload = await read_json_body(response)
                    if response.status_code == 429:
                        raise error_for_status(429, str(payload), retry_after=parse_retry_after(response.headers))
                    raise fastgpt_error(payload, response.status_code)
                if response.status_code != 200:
                    raise error_for_status(response.status_code, "fastgpt stream with error status")
                state = {**request.provider_state, STATE_KEY: chat_id}
                async with (
                    aclosing(aiter_events(response.aiter_bytes())) as sse_events,
                    aclosing(self._events(sse_events, state)) as events,
                ):
                    async for event in events:
                        yield event
        except httpx2.HTTPError as exc:
            raise transport_error(exc)

    async def _events(
        self, stream: AsyncIterator[SSEEvent], state: dict[str, Any]
    ) -> AsyncGenerator[StreamEvent, None]:
        parts: list[str] = []
        done_seen = False
        tokens = 0
        async for sse in stream:
            if not sse.has_data:
                continue
            name = sse.event or "answer"
            if name in ("answer", "fastAnswer"):
                if sse.is_done_sentinel():
                    done_seen = True
                    continue
                try:
                    text = _chunk_text(sse.json())
                except ValueError:
                    raise ProviderBadResponse(f"fastgpt: non-JSON chunk {sse.data[:80]!r}", transient=True)
                if text:
                    parts.append(text)
                    yield Delta(text)
            elif name == "error":
                try:
                    payload = sse.json()
                except ValueError:
                    payload = {"message": sse.data}
                raise fastgpt_error(payload, 500)
            elif name == "flowResponses":
                try:
                    tokens = _sum_tokens(sse.json())
                except ValueError:
                    tokens = 0
        if not done_seen:
            raise ProviderBadResponse("fastgpt stream ended without [DONE]", transient=True)
        yield Done(text="".join(parts), usage=Usage(total_tokens=tokens), provider_state=state)

    # --- knowledge-base search ------------------------------------------------------------------

    @property
    def dataset_id(self) -> str:
        return str(self.config.extra.get("dataset_id") or "").strip()

    def _search_body(self, question: str) -> dict[str, Any]:
        options = {**DEFAULT_SEARCH, **{k: v for k, v in self.config.extra.items() if k in DEFAULT_SEARCH}}
        mode = str(options["dataset_search_mode"])
        return {
            "datasetId": self.dataset_id,
            "text": question,
            "limit": int(options["dataset_limit"]),
            "similarity": float(options["dataset_similarity"]),
            "searchMode": mode if mode in SEARCH_MODES else DEFAULT_SEARCH["dataset_search_mode"],
            "usingReRank": bool(self.config.extra.get("dataset_rerank", False)),
        }

    async def search_dataset(self, question: str, *, timeout: float | None = None) -> list[Source]:
        """The dataset's best passages for `question` (source names and scores kept), or a ProviderError."""
        if not self.dataset_id:
            return []
        limits = http_timeout(self.config)
        if timeout is not None:
            limits = httpx2.Timeout(timeout, connect=min(timeout, self.config.timeouts.connect))
        url = join_url(api_root(self.config.base_url), "core/dataset/searchTest")
        headers = {**auth_headers(self.config), "Accept": "application/json"}
        try:
            response = await http_client().post(url, json=self._search_body(question), headers=headers, timeout=limits)
        except httpx2.HTTPError as exc:
            raise transport_error(exc)
        payload = await read_json_body(response)
        if response.status_code == 429:
            raise error_for_status(429, str(payload)[:300], retry_after=parse_retry_after(response.headers))
        if not isinstance(payload, dict) or payload.get("code") != 200 or response.status_code != 200:
            raise fastgpt_error(payload, response.status_code)
        return parse_passages(payload.get("data"))
