"""Parsers per format, with files generated here, and the failure cases."""

from __future__ import annotations

import pytest

from bots.knowledge.errors import IngestError
from bots.knowledge.faq_import import read_faq_rows
from bots.knowledge.models import SourceType
from bots.knowledge.parsers import detect_source_type, parse_document
from kefu.errors import InvalidInput
from tests.bots.knowledge.files import make_docx, make_pdf, make_xlsx


def test_plain_text_gbk_and_utf8() -> None:
    assert parse_document(SourceType.TEXT, "退款政策：七天无理由。".encode())[0].text == "退款政策：七天无理由。"
    assert parse_document(SourceType.TEXT, "退款政策".encode("gb18030"))[0].text == "退款政策"


def test_markdown_keeps_heading_path() -> None:
    text = "# 帮助中心\n简介。\n## 退款\n七天内可退款。\n### 流程\n提交申请。\n## 发票\n可开专票。\n"
    sections = parse_document(SourceType.MARKDOWN, text.encode())
    assert [(s.heading_path, s.text) for s in sections] == [
        ("帮助中心", "简介。"),
        ("帮助中心 > 退款", "七天内可退款。"),
        ("帮助中心 > 退款 > 流程", "提交申请。"),
        ("帮助中心 > 发票", "可开专票。"),
    ]


def test_html_drops_scripts_and_follows_headings() -> None:
    html = (
        "<html><head><style>p{}</style></head><body><nav>menu</nav><h1>Shipping</h1>"
        "<p>We ship <b>worldwide</b>.</p><script>alert(1)</script><h2>Costs</h2><ul><li>Free over $50</li></ul>"
        "</body></html>"
    )
    sections = parse_document(SourceType.HTML, html.encode())
    assert [(s.heading_path, s.text) for s in sections] == [
        ("Shipping", "We ship worldwide ."),
        ("Shipping > Costs", "Free over $50"),
    ]


def test_pdf_text_is_extracted() -> None:
    data = make_pdf(["Refunds are accepted within 7 days.", "Contact billing for invoices."])
    sections = parse_document(SourceType.PDF, data)
    joined = " ".join(s.text for s in sections)
    assert "Refunds are accepted within 7 days." in joined
    assert "invoices" in joined
    assert sections[0].heading_path == "p. 1"


def test_docx_headings_and_paragraphs() -> None:
    data = make_docx([("h1", "账户"), ("p", "在设置中修改密码。"), ("h2", "两步验证"), ("p", "使用验证器应用。")])
    sections = parse_document(SourceType.DOCX, data)
    assert [(s.heading_path, s.text) for s in sections] == [
        ("账户", "在设置中修改密码。"),
        ("账户 > 两步验证", "使用验证器应用。"),
    ]


@pytest.mark.parametrize(
    ("source_type", "data", "failure"),
    [
        (SourceType.PDF, b"%PDF-1.4\n garbage that is not a pdf", "corrupt"),
        (SourceType.DOCX, b"PK\x03\x04 not really a zip", "corrupt"),
        (SourceType.TEXT, b"   \n\n  ", "empty"),
        (SourceType.MARKDOWN, b"# Only a heading\n", "empty"),
        (SourceType.OTHER, b"whatever", "unsupported"),
    ],
)
def test_bad_input_raises_a_reasoned_error(source_type: str, data: bytes, failure: str) -> None:
    with pytest.raises(IngestError) as info:
        parse_document(source_type, data)
    assert info.value.failure == failure
    assert info.value.message


def test_source_type_detection() -> None:
    assert detect_source_type("notes.txt", b"hello") == SourceType.TEXT
    assert detect_source_type("renamed.txt", b"%PDF-1.7 ...") == SourceType.PDF
    assert detect_source_type("guide.md", b"# hi") == SourceType.MARKDOWN
    assert detect_source_type("a.docx", b"not a zip") == SourceType.OTHER
    assert detect_source_type("photo.png", b"\x89PNG\r\n") == SourceType.OTHER
    assert detect_source_type("binary.txt", b"ab\x00cd") == SourceType.OTHER


def test_faq_csv_with_chinese_header_and_alternates() -> None:
    data = "问题,答案,相似问题\n怎么退款?,七天内可退款。,能退钱吗|如何申请退款\n,空问题被跳过,\n".encode("utf-8-sig")
    rows = read_faq_rows(data, "faq.csv")
    assert len(rows) == 1
    assert rows[0].question == "怎么退款?"
    assert rows[0].alternates == ["能退钱吗", "如何申请退款"]


def test_faq_xlsx() -> None:
    data = make_xlsx([["id", "question", "answer"], ["ship", "Do you ship abroad?", "Yes, worldwide."]])
    rows = read_faq_rows(data, "faq.xlsx")
    assert [(r.external_id, r.question, r.answer) for r in rows] == [("ship", "Do you ship abroad?", "Yes, worldwide.")]


def test_faq_bad_files() -> None:
    with pytest.raises(InvalidInput):
        read_faq_rows(b"junk", "faq.xlsx")
    with pytest.raises(InvalidInput):
        read_faq_rows(b"a,b", "faq.json")
