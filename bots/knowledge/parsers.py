"""Turn an uploaded file into text sections (heading path, body) for the chunker."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import PurePath

from bots.knowledge.errors import IngestError
from bots.knowledge.models import SourceType

MAX_TEXT_CHARS = 2_000_000

EXTENSIONS = {
    ".txt": SourceType.TEXT,
    ".text": SourceType.TEXT,
    ".md": SourceType.MARKDOWN,
    ".markdown": SourceType.MARKDOWN,
    ".html": SourceType.HTML,
    ".htm": SourceType.HTML,
    ".pdf": SourceType.PDF,
    ".docx": SourceType.DOCX,
}


@dataclass(frozen=True)
class Section:
    headings: tuple[str, ...]
    text: str

    @property
    def heading_path(self) -> str:
        return " > ".join(self.headings)


def detect_source_type(filename: str, head: bytes) -> str:
    """By content first (a renamed PDF is still a PDF), then by extension."""
    if head.startswith(b"%PDF"):
        return SourceType.PDF
    suffix = PurePath(filename).suffix.lower()
    kind = EXTENSIONS.get(suffix, SourceType.OTHER)
    if kind == SourceType.DOCX and not head.startswith(b"PK"):
        return SourceType.OTHER
    if kind in (SourceType.TEXT, SourceType.MARKDOWN, SourceType.HTML) and b"\x00" in head[:4096]:
        return SourceType.OTHER
    return kind


def decode_text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise IngestError("corrupt", "undecodable text")


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


class _Outline:
    """Collects body lines under the current heading path (shared by Markdown and HTML)."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.stack: list[tuple[int, str]] = []
        self.body: list[str] = []

    def flush(self) -> None:
        joined = "\n".join(self.body).strip()
        if joined:
            self.sections.append(Section(tuple(h for _, h in self.stack), joined))
        self.body.clear()

    def heading(self, level: int, title: str) -> None:
        self.flush()
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))

    def done(self) -> list[Section]:
        self.flush()
        return self.sections


def parse_markdown(text: str) -> list[Section]:
    outline = _Outline()
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        match = None if in_code else _MD_HEADING.match(line)
        if match:
            outline.heading(len(match.group(1)), match.group(2).strip())
        else:
            outline.body.append(line)
    return outline.done()


def parse_html(data: bytes) -> list[Section]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg", "nav", "footer"]):
        tag.decompose()
    root = soup.body or soup
    blocks = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "td", "th", "dt", "dd"]
    found = root.find_all(blocks)
    if not found:
        return [Section((), root.get_text("\n", strip=True))]
    outline = _Outline()
    for element in found:
        if element.find_parent(blocks) is not None:
            continue
        text = element.get_text(" ", strip=True)
        if not text:
            continue
        if element.name in ("h1", "h2", "h3", "h4", "h5", "h6"):
            outline.heading(int(element.name[1]), text)
        else:
            outline.body.append(text)
    return outline.done()


def parse_pdf(data: bytes) -> list[Section]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise IngestError("encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
    except IngestError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError, IndexError, RecursionError) as exc:
        raise IngestError("corrupt", type(exc).__name__) from exc
    return [Section((f"p. {i}",), text.strip()) for i, text in enumerate(pages, start=1) if text.strip()]


def parse_docx(data: bytes) -> list[Section]:
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IngestError("corrupt", type(exc).__name__) from exc
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []

    def flush() -> None:
        joined = "\n".join(body).strip()
        if joined:
            sections.append(Section(tuple(h for _, h in stack), joined))
        body.clear()

    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        level_match = re.match(r"(?:Heading|标题)\s*(\d)", style)
        if level_match or style == "Title":
            flush()
            level = int(level_match.group(1)) if level_match else 0
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
        else:
            body.append(text)
    flush()
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells if cell.text.strip()]
            if cells:
                sections.append(Section(tuple(h for _, h in stack), " | ".join(cells)))
    return sections


def parse_document(source_type: str, data: bytes) -> list[Section]:
    """Sections of text; IngestError when the input is unusable."""
    if source_type == SourceType.PDF:
        sections = parse_pdf(data)
    elif source_type == SourceType.DOCX:
        sections = parse_docx(data)
    elif source_type == SourceType.HTML:
        sections = parse_html(data)
    elif source_type == SourceType.MARKDOWN:
        sections = parse_markdown(decode_text(data))
    elif source_type == SourceType.TEXT:
        text = decode_text(data).strip()
        sections = [Section((), text)] if text else []
    else:
        raise IngestError("unsupported")
    total = sum(len(s.text) for s in sections)
    if total == 0:
        raise IngestError("empty")
    if total > MAX_TEXT_CHARS:
        raise IngestError("too_large", f"{MAX_TEXT_CHARS:,} characters")
    return sections
