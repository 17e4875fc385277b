"""SSE parser: every framing quirk listed in section 0 of the provider protocols doc."""

from __future__ import annotations

import pytest

from bots.sse import SSEParser, aiter_events, parse_all


def test_openai_style_with_space_and_done() -> None:
    events = parse_all(b'data: {"a": 1}\n\ndata: [DONE]\n\n')
    assert [e.json() for e in events[:1]] == [{"a": 1}]
    assert events[1].is_done_sentinel()


def test_coze_style_no_space_and_quoted_done() -> None:
    events = parse_all(b'event:conversation.chat.created\ndata:{"id":"1"}\n\nevent:done\ndata:"[DONE]"\n\n')
    assert events[0].event == "conversation.chat.created" and events[0].json() == {"id": "1"}
    assert events[1].event == "done" and events[1].is_done_sentinel()


def test_comments_and_bare_event_ping() -> None:
    events = parse_all(b': keep-alive\n\nevent: ping\n\ndata: {"x":1}\n\n')
    assert [(e.event, e.has_data) for e in events] == [("ping", False), ("", True)]


@pytest.mark.parametrize("sep", [b"\n", b"\r\n", b"\r"])
def test_line_endings(sep: bytes) -> None:
    raw = b"event: answer" + sep + b"data: one" + sep + sep + b"data: two" + sep + sep
    events = parse_all(raw)
    assert [(e.event, e.data) for e in events] == [("answer", "one"), ("", "two")]


def test_split_anywhere_including_crlf_and_utf8() -> None:
    raw = 'event: answer\r\ndata: {"t":"你好"}\r\n\r\ndata: 世界\r\n\r\n'.encode()
    for size in (1, 2, 3, 5, 7):
        parser = SSEParser()
        events = []
        for i in range(0, len(raw), size):
            events.extend(parser.feed(raw[i : i + size]))
        events.extend(parser.flush())
        assert [(e.event, e.data) for e in events] == [("answer", '{"t":"你好"}'), ("", "世界")], size


def test_multiline_data_and_single_space_stripped_only() -> None:
    events = parse_all(b"data: line1\ndata:  two spaces\n\n")
    assert events[0].data == "line1\n two spaces"


def test_unterminated_last_event_is_flushed() -> None:
    assert parse_all(b"data: tail")[0].data == "tail"
    assert parse_all(b"data: tail\n")[0].data == "tail"


def test_spaced_and_compact_json_parse_the_same() -> None:
    a, b = parse_all(b'data: {"a":1,"b":[1,2]}\n\ndata: {"a": 1, "b": [1, 2]}\n\n')
    assert a.json() == b.json()


async def test_async_iteration_closes_its_source() -> None:
    closed = []

    async def source():
        try:
            yield b"data: 1\n\n"
            yield b"data: 2\n\n"
        finally:
            closed.append(True)

    gen = aiter_events(source())
    first = await anext(gen)
    await gen.aclose()
    assert first.data == "1" and closed == [True]
