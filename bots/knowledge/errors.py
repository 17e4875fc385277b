"""Why an ingestion failed: stable codes stored on the document, translated when shown."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from kefu.errors import KefuError

FAILURE_MESSAGES = {
    "unsupported": _("This file type is not supported. Upload TXT, Markdown, HTML, PDF or Word (.docx)."),
    "empty": _("No text could be found in this document."),
    "too_large": _("The document is too large (limit %(limit)s)."),
    "corrupt": _("The file could not be read; it may be damaged or password-protected."),
    "encrypted": _("The PDF is password-protected."),
    "embedding": _("The embeddings service failed: %(detail)s"),
    "attempts": _("Ingestion failed too many times; re-upload the document to try again."),
    "internal": _("An unexpected error stopped the ingestion."),
}


class IngestError(KefuError):
    """Bad input for one document: the document fails, nothing else is affected."""

    code = "ingest_failed"

    def __init__(self, failure: str, detail: str = "") -> None:
        self.failure = failure
        self.detail = detail
        super().__init__(failure_message(failure, detail), code=f"ingest_{failure}")


def failure_message(code: str, detail: str = "") -> str:
    template = FAILURE_MESSAGES.get(code, FAILURE_MESSAGES["internal"])
    text = str(template)  # a lazy string: evaluated now, in the active language
    if "%(" in text:
        return text % {"limit": detail, "detail": detail}
    return text
