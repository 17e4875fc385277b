"""Split sections into retrieval chunks at sentence boundaries, Chinese punctuation included."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bots.knowledge.parsers import Section
from bots.knowledge.text import token_count

TARGET_TOKENS = 300
MAX_TOKENS = 450
OVERLAP_SENTENCES = 1

# Split after a sentence end (。！？；!?; or a period followed by space) or at a blank line.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=\.)(?=\s)|\n\s*\n")
_CLAUSE = re.compile(r"(?<=[，,、：:])")


@dataclass(frozen=True)
class ChunkText:
    heading_path: str
    text: str
    token_count: int


def split_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text):
        piece = piece.strip() if piece else ""
        if not piece:
            continue
        if token_count(piece) <= MAX_TOKENS:
            sentences.append(piece)
            continue
        # A run-on sentence: fall back to clauses, then to a hard cut.
        for clause in _CLAUSE.split(piece):
            while token_count(clause) > MAX_TOKENS:
                sentences.append(clause[:MAX_TOKENS])
                clause = clause[MAX_TOKENS:]
            if clause.strip():
                sentences.append(clause.strip())
    return sentences


def _join(parts: list[str]) -> str:
    out = ""
    for part in parts:
        if out and re.match(r"[A-Za-z0-9]", out[-1]) and re.match(r"[A-Za-z0-9]", part[0]):
            out += " "
        elif out and out[-1] in ".!?;" and not part[0].isspace():
            out += " "
        out += part
    return out


def chunk_sections(sections: Iterable[Section]) -> list[ChunkText]:
    """Chunks never cross a heading; within a section they overlap by one sentence."""
    chunks: list[ChunkText] = []
    for section in sections:
        sentences = split_sentences(section.text)
        current: list[str] = []
        size = 0
        for sentence in sentences:
            n = token_count(sentence)
            if current and size + n > TARGET_TOKENS:
                text = _join(current)
                chunks.append(ChunkText(section.heading_path, text, token_count(text)))
                current = current[-OVERLAP_SENTENCES:] if OVERLAP_SENTENCES else []
                size = sum(token_count(s) for s in current)
                if size + n > MAX_TOKENS:
                    current, size = [], 0
            current.append(sentence)
            size += n
        if current:
            text = _join(current)
            chunks.append(ChunkText(section.heading_path, text, token_count(text)))
    return chunks
