"""Incremental Server-Sent Events parser tolerant of every provider's quirks.

Handles `\\n`, `\\r\\n` and `\\r` line ends, `data:` with or without the space, comment
lines (`: keep-alive`), events with an `event:` line and no data (Dify's `event: ping`)
and multi-line data. Payload interpretation (JSON, `[DONE]`) is left to the caller.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str = ""
    data: str = ""
    id: str = ""
    has_data: bool = False

    def is_done_sentinel(self) -> bool:
        # OpenAI/FastGPT send [DONE]; Coze sends "[DONE]" with quotes.
        stripped = self.data.strip()
        return stripped.startswith("[DONE]") or stripped == '"[DONE]"'

    def json(self) -> Any:
        return orjson.loads(self.data)


class SSEParser:
    """Feed bytes, get complete events. Keeps at most one partial line buffered."""

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder_tail = b""
        self._event = ""
        self._data: list[str] = []
        self._id = ""
        self._seen_field = False
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        data = self._decoder_tail + chunk
        try:
            text = data.decode("utf-8")
            self._decoder_tail = b""
        except UnicodeDecodeError as exc:
            # A multi-byte character split across chunks: keep the tail for the next feed.
            if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
                text = data[: exc.start].decode("utf-8")
                self._decoder_tail = data[exc.start :]
            else:
                text = data.decode("utf-8", errors="replace")
                self._decoder_tail = b""
        return self._feed_text(text)

    def _feed_text(self, text: str) -> list[SSEEvent]:
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = False
        buf = self._buffer + text
        events: list[SSEEvent] = []
        start = 0
        length = len(buf)
        while True:
            nl = buf.find("\n", start)
            cr = buf.find("\r", start)
            if nl < 0 and cr < 0:
                break
            if cr < 0 or (0 <= nl < cr):
                end, nxt = nl, nl + 1
            else:
                end = cr
                if cr + 1 < length:
                    nxt = cr + 2 if buf[cr + 1] == "\n" else cr + 1
                else:
                    # \r at the very end: a following \n belongs to the same line end.
                    nxt = cr + 1
                    self._pending_cr = True
            line = buf[start:end]
            start = nxt
            event = self._line(line)
            if event is not None:
                events.append(event)
        self._buffer = buf[start:]
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._seen_field = True
        elif name == "event":
            self._event = value
            self._seen_field = True
        elif name == "id":
            self._id = value
            self._seen_field = True
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._seen_field:
            return None
        event = SSEEvent(event=self._event, data="\n".join(self._data), id=self._id, has_data=bool(self._data))
        self._event = ""
        self._data = []
        self._seen_field = False
        return event

    def flush(self) -> list[SSEEvent]:
        """At EOF: treat a trailing unterminated event as complete (some servers omit the final blank line)."""
        events: list[SSEEvent] = []
        if self._buffer:
            tail, self._buffer = self._buffer, ""
            event = self._line(tail)
            if event is not None:
                events.append(event)
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events


def parse_all(payload: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    return parser.feed(payload) + parser.flush()


def iter_events(chunks: Iterator[bytes]) -> Iterator[SSEEvent]:
    parser = SSEParser()
    for chunk in chunks:
        yield from parser.feed(chunk)
    yield from parser.flush()


async def aiter_events(chunks: AsyncIterable[bytes]) -> AsyncGenerator[SSEEvent, None]:
    parser = SSEParser()
    try:
        async for chunk in chunks:
            for event in parser.feed(chunk):
                yield event
        for event in parser.flush():
            yield event
    finally:
        # Close the byte source in this task; left to the GC it would be closed in another.
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
