"""Images, voice and files sent to a bot (issue 17): read when the bot can, never silence when it cannot."""

from __future__ import annotations

import io
import wave

import pytest
from PIL import Image

from bots.models import Bot, BotTurn, MediaFallback, ProviderKind, TurnStatus
from kefu.models import Kind, Message, SenderType, Status
from kefu.services.attachments import attachment_create
from kefu.services.conversations import conversation_open
from kefu.services.messages import message_send
from tests.factories import TenantFactory, VisitorFactory
from tests.fakes.coze_server import FakeCoze
from tests.fakes.dify_server import FakeDify
from tests.fakes.http import Behaviour
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _setup(settings, django_capture_on_commit_callbacks, tmp_path):
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.KEFU_BOT_TIMEOUTS = {"connect": 1.0, "first_token": 2.0, "idle": 2.0, "total": 5.0}
    settings.MEDIA_ROOT = tmp_path
    global _capture
    _capture = django_capture_on_commit_callbacks


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def wav_bytes() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 800)
    return out.getvalue()


def send_media(tenant, kind: str, data: bytes, name: str, body: str = ""):
    with _capture(execute=True):
        conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        attachment = attachment_create(tenant=tenant, data=data, filename=name, conversation=conv)
        message = message_send(
            conversation=conv, sender_type=SenderType.VISITOR, kind=kind, body=body, attachment=attachment
        ).message
    conv.refresh_from_db()
    return conv, message


def bot_bodies(conv) -> list[str]:
    return list(
        Message.objects.filter(conversation=conv, sender_type=SenderType.BOT)
        .order_by("seq")
        .values_list("body", flat=True)
    )


@pytest.mark.parametrize(
    ("kind", "data", "name", "words"),
    [
        (Kind.IMAGE, png_bytes(), "photo.png", "pictures"),
        (Kind.AUDIO, wav_bytes(), "voice.wav", "voice messages"),
        (Kind.FILE, b"%PDF-1.4 fake", "invoice.pdf", "files"),
    ],
)
def test_without_the_capability_the_visitor_gets_an_immediate_reply_asking_for_text(kind, data, name, words):
    tenant = TenantFactory()
    with FakeOpenAI() as fake:
        # An OpenAI bot whose model does not read images and has no speech model.
        Bot.objects.create(tenant=tenant, name="b", provider=ProviderKind.OPENAI, base_url=f"{fake.url}/v1", model="m")
        conv, message = send_media(tenant, kind, data, name)
        assert fake.requests == []  # nothing was sent to a provider that cannot read it
    [reply] = bot_bodies(conv)
    assert words in reply and "human" in reply
    assert conv.status == Status.BOT
    assert BotTurn.objects.get(trigger=message).status == TurnStatus.DONE


def test_the_bot_can_hand_an_unreadable_message_to_a_human_instead():
    tenant = TenantFactory()
    Bot.objects.create(tenant=tenant, name="b", media_fallback=MediaFallback.HANDOFF)
    conv, message = send_media(tenant, Kind.IMAGE, png_bytes(), "photo.png")
    assert conv.status == Status.QUEUED
    assert BotTurn.objects.get(trigger=message).status == TurnStatus.HANDOFF
    assert "human agent" in bot_bodies(conv)[0]
    note = Message.objects.get(conversation=conv, is_internal=True, metadata__event="handoff_summary")
    assert note.metadata["reason"] == "media"


def test_an_image_goes_to_a_vision_model_as_an_image_part_and_the_answer_is_stored():
    tenant = TenantFactory()
    image = png_bytes()
    with FakeOpenAI(Behaviour(chunks=["这是一张", "红色的图片。"])) as fake:
        Bot.objects.create(
            tenant=tenant,
            name="b",
            provider=ProviderKind.OPENAI,
            base_url=f"{fake.url}/v1",
            model="gpt-4o-mini",
            vision=True,
        )
        conv, _ = send_media(tenant, Kind.IMAGE, image, "photo.png", body="这是什么?")
        sent = fake.requests[-1].json()["messages"][-1]
    assert fake.images == [("image/png", image)]
    assert sent["content"][0] == {"type": "text", "text": "这是什么?"}
    assert bot_bodies(conv) == ["这是一张红色的图片。"]


def test_a_model_without_vision_refuses_the_image_and_the_visitor_is_handed_off_not_left_waiting():
    tenant = TenantFactory()
    with FakeOpenAI() as fake:
        # Configured as reading images, but the model is text-only: the provider answers 400.
        Bot.objects.create(
            tenant=tenant,
            name="b",
            provider=ProviderKind.OPENAI,
            base_url=f"{fake.url}/v1",
            model="text-only",
            vision=True,
        )
        conv, message = send_media(tenant, Kind.IMAGE, png_bytes(), "photo.png")
        assert fake.images == []
    assert conv.status == Status.QUEUED
    assert BotTurn.objects.get(trigger=message).status == TurnStatus.HANDOFF
    assert bot_bodies(conv) == ["Sorry, I cannot answer right now. A human agent will help you shortly."]


def test_voice_is_transcribed_the_transcript_stored_for_agents_and_answered():
    tenant = TenantFactory()
    audio = wav_bytes()
    with FakeOpenAI(Behaviour(chunks=["您的订单", "已发货。"])) as fake:
        fake.transcript = "我的订单到哪里了"
        Bot.objects.create(
            tenant=tenant,
            name="b",
            provider=ProviderKind.OPENAI,
            base_url=f"{fake.url}/v1",
            model="gpt-4o-mini",
            transcription_model="whisper-1",
        )
        conv, message = send_media(tenant, Kind.AUDIO, audio, "voice.wav")
        question = fake.requests[-1].json()["messages"][-1]
    assert fake.audio == [("whisper-1", "voice.wav", audio)]
    assert question == {"role": "user", "content": "我的订单到哪里了"}
    message.refresh_from_db()
    assert message.metadata["transcript"] == "我的订单到哪里了"
    assert bot_bodies(conv) == ["您的订单已发货。"]
    from kefu.payloads import message_payload

    assert message_payload(message)["meta"]["transcript"] == "我的订单到哪里了"


def test_a_failed_transcription_still_gets_a_polite_reply():
    tenant = TenantFactory()
    with FakeOpenAI() as fake:
        Bot.objects.create(
            tenant=tenant,
            name="b",
            provider=ProviderKind.OPENAI,
            base_url=f"{fake.url}/v1",
            model="gpt-4o-mini",
            transcription_model="no-such-speech-model",  # the fake answers 404 model_not_found
        )
        conv, message = send_media(tenant, Kind.AUDIO, wav_bytes(), "voice.wav")
    assert "voice messages" in bot_bodies(conv)[0]
    assert BotTurn.objects.get(trigger=message).status == TurnStatus.DONE


def test_dify_gets_the_image_as_an_uploaded_file_input():
    tenant = TenantFactory()
    image = png_bytes()
    with FakeDify(Behaviour(chunks=["图片", "已收到"])) as fake:
        Bot.objects.create(
            tenant=tenant,
            name="b",
            provider=ProviderKind.DIFY,
            base_url=f"{fake.url}/v1",
            api_key="app-test",
            vision=True,
        )
        conv, _ = send_media(tenant, Kind.IMAGE, image, "photo.png")
    [(file_id, (name, mime, data, _user))] = fake.uploads.items()
    assert (name, mime, data) == ("photo.png", "image/png", image)
    assert fake.files_seen == [{"type": "image", "transfer_method": "local_file", "upload_file_id": file_id}]
    assert bot_bodies(conv) == ["图片已收到"]


def test_coze_gets_the_image_as_an_uploaded_file_in_an_object_string_question():
    tenant = TenantFactory()
    image = png_bytes()
    with FakeCoze(Behaviour(chunks=["看到了", "图片"])) as fake:
        Bot.objects.create(
            tenant=tenant,
            name="b",
            provider=ProviderKind.COZE,
            base_url=fake.url,
            api_key="pat_test",
            extra={"bot_id": "7379462189365198898"},
            vision=True,
        )
        conv, _ = send_media(tenant, Kind.IMAGE, image, "photo.png", body="这个能退吗")
    [(file_id, (_name, _mime, data))] = fake.uploads.items()
    assert data == image
    assert fake.parts_seen == [[{"type": "text", "text": "这个能退吗"}, {"type": "image", "file_id": file_id}]]
    assert bot_bodies(conv) == ["看到了图片"]
