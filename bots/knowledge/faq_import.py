"""Read FAQ rows from CSV or XLSX: question, answer, optional alternates and id columns."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import PurePath

from django.utils.translation import gettext

from kefu.errors import InvalidInput

MAX_ROWS = 20_000
# Header names we accept, English and Chinese, compared in lower case.
COLUMNS = {
    "question": ("question", "q", "问题", "标准问题", "问"),
    "answer": ("answer", "a", "答案", "回答", "答"),
    "alternates": ("alternates", "alternate questions", "similar", "相似问题", "相似问法", "其他问法"),
    "id": ("id", "external_id", "编号"),
}
_ALT_SPLIT = re.compile(r"[\n|；;]+")


@dataclass(frozen=True)
class FaqRow:
    question: str
    answer: str
    alternates: list[str]
    external_id: str


def _rows_from_csv(data: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput(gettext("The CSV file is not UTF-8 or GB18030 text."))
    return [row for row in csv.reader(io.StringIO(text))]


def _rows_from_xlsx(data: bytes) -> list[list[str]]:
    import zipfile

    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidInput(gettext("The spreadsheet could not be read.")) from exc
    sheet = book.worksheets[0]
    rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    book.close()
    return rows


def read_faq_rows(data: bytes, filename: str) -> list[FaqRow]:
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".csv":
        rows = _rows_from_csv(data)
    elif suffix in (".xlsx", ".xlsm"):
        rows = _rows_from_xlsx(data)
    else:
        raise InvalidInput(gettext("FAQ files must be CSV or XLSX."))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise InvalidInput(gettext("The FAQ file is empty."))
    if len(rows) > MAX_ROWS + 1:
        raise InvalidInput(gettext("The FAQ file has too many rows."))
    header = [c.strip().lower() for c in rows[0]]
    positions = {}
    for field, names in COLUMNS.items():
        for i, name in enumerate(header):
            if name in names:
                positions[field] = i
                break
    if "question" in positions and "answer" in positions:
        body = rows[1:]
    else:  # no recognised header: question, answer[, alternates]
        positions = {"question": 0, "answer": 1, "alternates": 2}
        body = rows

    def cell(row: list[str], field: str) -> str:
        i = positions.get(field)
        return row[i].strip() if i is not None and i < len(row) and row[i] else ""

    result = []
    for row in body:
        question, answer = cell(row, "question"), cell(row, "answer")
        if not question or not answer:
            continue
        alternates = [a.strip() for a in _ALT_SPLIT.split(cell(row, "alternates")) if a.strip()]
        result.append(FaqRow(question, answer, alternates, cell(row, "id")))
    return result
