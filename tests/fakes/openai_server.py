"""Fake OpenAI-compatible server: /v1/chat/completions (stream and not) and /v1/embeddings.

Run alone for benchmarks: `python -m tests.fakes.openai_server --port 8301 --first-token-delay 0.3 --tps 30`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from collections.abc import AsyncIterator

from tests.fakes.http import Behaviour, FakeServer, Request, Response, StreamResponse, json_response, sse

MODEL = "gpt-4o-mini"


def openai_error(status: int, retry_after: float | None = None) -> Response:
    bodies = {
        401: {
            "message": "Incorrect API key provided: sk-xx***.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        },
        429: {
            "message": "Rate limit reached for gpt-4o-mini. Please try again in 6ms.",
            "type": "tokens",
            "param": None,
            "code": "rate_limit_exceeded",
        },
    }
    error = bodies.get(
        status,
        {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        },
    )
    headers = {"x-request-id": "req_fake"}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    return json_response({"error": error}, status, headers)


VISION_MODELS = {"gpt-4o-mini", "gpt-4o"}
TRANSCRIPTION_MODELS = {"whisper-1", "gpt-4o-transcribe"}


def _invalid(message: str, param: str | None = None, status: int = 400, code: str | None = None) -> Response:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return json_response({"error": error}, status)


class FakeOpenAI(FakeServer):
    """`vision_models`: models that accept image content parts (others answer 400 as OpenAI
    does); `transcript`: what /audio/transcriptions hears in any audio file."""

    vision_models = VISION_MODELS
    transcript = "我的订单到哪里了"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.images: list[tuple[str, bytes]] = []  # (media type, bytes) of each image part received
        self.audio: list[tuple[str, str, bytes]] = []  # (model, filename, bytes) transcribed

    async def handle(self, request: Request) -> Response | StreamResponse:
        b = self.behaviour
        if not self.check_auth(request):
            return openai_error(401)
        if b.fail_status:
            return openai_error(b.fail_status, b.retry_after)
        if request.path.endswith("/embeddings"):
            return self._embeddings(request)
        if request.path.endswith("/audio/transcriptions"):
            return self._transcribe(request)
        if not request.path.endswith("/chat/completions"):
            return json_response({"error": {"message": "not found", "type": "invalid_request_error"}}, 404)
        body = request.json()
        refused = self._check_images(body)
        if refused is not None:
            return refused
        if not body.get("stream"):
            text = "".join(b.chunks)
            return json_response(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 1718000000,
                    "model": MODEL,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text, "refusal": None},
                            "logprobs": None,
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": 25,
                        "completion_tokens": len(b.chunks),
                        "total_tokens": 25 + len(b.chunks),
                    },
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamResponse(self._chunks(include_usage), truncate=b.truncate)

    async def _chunks(self, include_usage: bool) -> AsyncIterator[bytes]:
        b = self.behaviour
        usage_null = {"usage": None} if include_usage else {}

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            return sse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 1718000000,
                    "model": MODEL,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                    **usage_null,
                }
            )

        if b.keepalive:
            yield b": keep-alive\n\n"
        if b.first_token_delay:
            await asyncio.sleep(b.first_token_delay)
        yield chunk({"role": "assistant", "content": ""})
        for i, piece in enumerate(b.chunks):
            if i and b.chunk_delay:
                await asyncio.sleep(b.chunk_delay)
            if b.keepalive:
                yield b": keep-alive\n\n"
            yield chunk({"content": piece})
            if b.error_mid_stream and i == 0:
                yield sse(
                    {
                        "error": {
                            "message": "The server had an error while processing your request.",
                            "type": "server_error",
                            "param": None,
                            "code": None,
                        }
                    }
                )
                return
        if b.truncate:
            return
        yield chunk({}, "stop")
        if include_usage:
            yield sse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 1718000000,
                    "model": MODEL,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 25,
                        "completion_tokens": len(b.chunks),
                        "total_tokens": 25 + len(b.chunks),
                    },
                }
            )
        yield b"data: [DONE]\n\n"

    def _check_images(self, body: dict) -> Response | None:
        """Image content parts: only vision models take them, and only valid image data URLs."""
        import base64

        for m_index, message in enumerate(body.get("messages") or []):
            content = message.get("content")
            if not isinstance(content, list):
                continue
            for p_index, part in enumerate(content):
                if part.get("type") == "text":
                    continue
                if part.get("type") != "image_url":
                    return _invalid(f"Invalid content type: {part.get('type')}", f"messages.[{m_index}].content")
                if body.get("model") not in self.vision_models:
                    return _invalid(
                        "Invalid content type. image_url is only supported by certain models.",
                        f"messages.[{m_index}].content.[{p_index}].type",
                    )
                url = (part.get("image_url") or {}).get("url", "")
                head, _, data = url.partition(";base64,")
                if not head.startswith("data:image/") or not data:
                    return _invalid("Invalid image URL.", f"messages.[{m_index}].content.[{p_index}].image_url")
                try:
                    self.images.append((head[5:], base64.b64decode(data, validate=True)))
                except ValueError:
                    return _invalid("Invalid base64 image data.", f"messages.[{m_index}].content.[{p_index}]")
        return None

    def _transcribe(self, request: Request) -> Response:
        """POST /audio/transcriptions: multipart `file` and `model` (response_format json or text)."""
        form = request.form()
        if "file" not in form or not isinstance(form["file"], tuple) or not form["file"][2]:
            return _invalid("You must provide a file.", "file")
        if "model" not in form:
            return _invalid("you must provide a model parameter", "model")
        if form["model"] not in TRANSCRIPTION_MODELS:
            return _invalid(f"The model `{form['model']}` does not exist.", "model", 404, "model_not_found")
        filename, _ctype, data = form["file"]
        self.audio.append((form["model"], filename, data))
        if form.get("response_format") == "text":
            return Response(200, self.transcript.encode(), "text/plain")
        return json_response({"text": self.transcript})

    def _embeddings(self, request: Request) -> Response:
        body = request.json()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for index, text in enumerate(inputs):
            digest = hashlib.sha256(str(text).encode()).digest()
            data.append({"object": "embedding", "index": index, "embedding": [round(x / 255, 4) for x in digest[:8]]})
        return json_response(
            {
                "object": "list",
                "model": body["model"],
                "data": data,
                "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8301)
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    parser.add_argument("--tps", type=float, default=0.0, help="tokens per second (0 = at once)")
    parser.add_argument("--tokens", type=int, default=20)
    args = parser.parse_args()
    behaviour = Behaviour(
        first_token_delay=args.first_token_delay,
        chunk_delay=1 / args.tps if args.tps else 0.0,
        chunks=[f" tok{i}" for i in range(args.tokens)],
    )
    server = FakeOpenAI(behaviour, port=args.port)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(server.serve_forever())


if __name__ == "__main__":
    main()
