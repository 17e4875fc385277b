"""Uploads: the type is sniffed from the bytes, sizes and pixels are bounded."""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata

import filetype
from django.conf import settings
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image

from kefu.errors import InvalidInput
from kefu.models import Attachment, Conversation, Kind, Tenant

# What may be shown inline from our origin; everything else is served as a download.
INLINE_TYPES = {
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "audio/x-wav",
    "audio/webm",
    "audio/mp4",
    "audio/aac",
    "audio/x-m4a",
}
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f<>:\"'/\\|?*`]")


def sanitize_filename(name: str) -> str:
    name = unicodedata.normalize("NFKC", name or "")
    name = name.replace("\\", "/").split("/")[-1]  # drop any path, including ../
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    return (name or "file")[:200]


def sniff_content_type(data: bytes) -> str:
    kind = filetype.guess(data[:8192])
    if kind is not None:
        return kind.mime
    head = data[:512].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml", b"<!doctype", b"<html")) or b"<svg" in head:
        return "text/html" if b"<html" in head or b"<!doctype html" in head else "image/svg+xml"
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


def message_kind_for(content_type: str) -> str:
    if content_type in IMAGE_TYPES:
        return Kind.IMAGE
    if content_type.startswith("audio/"):
        return Kind.AUDIO
    return Kind.FILE


def attachment_create(
    *, tenant: Tenant, data: bytes, filename: str, conversation: Conversation | None = None
) -> Attachment:
    limit = min(settings.KEFU_MAX_UPLOAD_BYTES, tenant.max_upload_mb * 1024 * 1024)
    if not data:
        raise InvalidInput(_("The file is empty."), code="empty_file")
    if len(data) > limit:
        raise InvalidInput(_("The file is larger than %(mb)d MB.") % {"mb": limit // (1024 * 1024)}, code="too_large")
    if conversation is not None and conversation.tenant_id != tenant.pk:
        raise InvalidInput(_("That conversation belongs to another tenant."))
    content_type = sniff_content_type(data)
    width = height = None
    if content_type in IMAGE_TYPES:
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > settings.KEFU_MAX_IMAGE_PIXELS:
                    raise InvalidInput(_("The image has too many pixels."), code="too_many_pixels")
                image.verify()
        except InvalidInput:
            raise
        except Exception:
            raise InvalidInput(_("The image is damaged."), code="bad_image") from None
    digest = hashlib.sha256(data).hexdigest()
    attachment = Attachment(
        tenant=tenant,
        conversation=conversation,
        content_type=content_type,
        size=len(data),
        original_name=sanitize_filename(filename),
        sha256=digest,
        width=width,
        height=height,
    )
    attachment.file.save(digest, ContentFile(data), save=False)
    attachment.save()
    return attachment
