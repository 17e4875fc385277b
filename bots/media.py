"""Images, voice and files sent to a bot: read them when the bot can, answer at once when it cannot.

- an image goes to the model when the bot says its model reads images (`Bot.vision`):
  OpenAI-compatible image content parts, Dify and Coze file inputs (each adapter uploads
  or inlines it as its protocol asks);
- a voice message is transcribed by an OpenAI-compatible `/audio/transcriptions`
  endpoint (`Bot.transcription_model`, on the bot's own endpoint or its backup's); the
  transcript is stored on the message (metadata `transcript`) for agents, and answered
  like typed text;
- anything else the bot cannot read gets an immediate, polite reply asking for text, or
  a handoff (`Bot.media_fallback`): never silence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.utils.translation import gettext as _

from bots.interface import MediaInput, ProviderConfig, ProviderError
from bots.models import Bot, ProviderKind
from kefu.models import Kind, Message

logger = logging.getLogger(__name__)

VISION_PROVIDERS = {ProviderKind.OPENAI, ProviderKind.DIFY, ProviderKind.COZE}
MEDIA_KINDS = {Kind.IMAGE, Kind.AUDIO, Kind.FILE}
MAX_MEDIA_BYTES = 20 * 1024 * 1024  # OpenAI's image and audio limits are 20 and 25 MB


@dataclass(frozen=True)
class MediaPlan:
    """How this turn treats the visitor's attachment."""

    action: str  # "vision" | "transcribe" | "fallback"
    media: MediaInput | None = None
    transcriber: Bot | None = None


def load_media(message: Message) -> MediaInput | None:
    attachment = message.attachment
    if attachment is None or attachment.size > MAX_MEDIA_BYTES:
        return None
    with attachment.file.open("rb") as handle:
        data = handle.read(MAX_MEDIA_BYTES + 1)
    return MediaInput(
        kind=str(message.kind), data=data, content_type=attachment.content_type, name=attachment.original_name
    )


def transcriber_for(bot: Bot) -> Bot | None:
    """The first OpenAI-compatible bot of the chain (the bot, then its backup) with a speech model."""
    for candidate in (bot, bot.backup):
        if (
            candidate is not None
            and candidate.tenant_id == bot.tenant_id
            and candidate.provider == ProviderKind.OPENAI
            and candidate.transcription_model
        ):
            return candidate
    return None


def plan_media(bot: Bot, message: Message) -> MediaPlan:
    if message.kind == Kind.IMAGE and bot.vision and bot.provider in VISION_PROVIDERS:
        media = load_media(message)
        if media is not None:
            return MediaPlan("vision", media)
    if message.kind == Kind.AUDIO:
        transcriber = transcriber_for(bot)
        if transcriber is not None:
            media = load_media(message)
            if media is not None:
                return MediaPlan("transcribe", media, transcriber)
    return MediaPlan("fallback")


def fallback_text(kind: str) -> str:
    if kind == Kind.IMAGE:
        return _(
            "Sorry, I can't look at pictures here. Could you describe it in a few words? "
            'If you\'d rather talk to a person, just say "human".'
        )
    if kind == Kind.AUDIO:
        return _(
            "Sorry, I can't listen to voice messages here. Could you type your question? "
            'If you\'d rather talk to a person, just say "human".'
        )
    return _(
        "Sorry, I can't open files here. Could you tell me in a few words what you need? "
        'If you\'d rather talk to a person, just say "human".'
    )


def handoff_apology(kind: str) -> str:
    """The system text code of the bot's apology (kefu/system_texts.py), said in the visitor's language."""
    return "handoff_apology_media"


async def transcribe(config: ProviderConfig, model: str, media: MediaInput, language: str = "") -> str:
    """POST /audio/transcriptions (multipart: file, model, response_format=json) through the SDK."""
    from openai import omit

    from bots.providers.openai_compat import map_openai_error, shared_client

    try:
        result = await shared_client(config).audio.transcriptions.create(
            file=(media.name or "voice", media.data, media.content_type),
            model=model,
            response_format="json",
            language=language or omit,
        )
    except Exception as exc:
        raise map_openai_error(exc) from None
    text = (getattr(result, "text", "") or "").strip()
    if not text:
        raise ProviderError("empty transcript", transient=False)
    return text
