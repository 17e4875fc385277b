"""Uploads: type from the bytes, bounded size and pixels, sanitized names, safe serving."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from kefu.errors import InvalidInput
from kefu.services.attachments import attachment_create, message_kind_for, sanitize_filename, sniff_content_type
from kefu.views import serve_attachment
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def png_bytes(size=(4, 3)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, "red").save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ('a"b<c>.png', "a_b_c_.png"),
        ("evil\r\nSet-Cookie: x.txt", "evil__Set-Cookie_ x.txt"),
        ("..", "file"),
        ("报告.pdf", "报告.pdf"),
    ],
)
def test_filenames_are_sanitized(name, expected):
    assert sanitize_filename(name) == expected


def test_type_is_sniffed_from_bytes_not_the_name():
    tenant = TenantFactory()
    attachment = attachment_create(tenant=tenant, data=png_bytes(), filename="photo.exe")
    assert attachment.content_type == "image/png" and (attachment.width, attachment.height) == (4, 3)
    assert message_kind_for(attachment.content_type) == "image"
    assert (
        sniff_content_type(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
        == "image/svg+xml"
    )
    assert sniff_content_type(b"<!DOCTYPE html><html><script>") == "text/html"


def test_svg_named_png_is_served_as_a_download_with_nosniff_and_sandbox():
    tenant = TenantFactory()
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'
    attachment = attachment_create(tenant=tenant, data=svg, filename="cute.png")
    response = serve_attachment(attachment)
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_png_is_inline():
    attachment = attachment_create(tenant=TenantFactory(), data=png_bytes(), filename="a.png")
    response = serve_attachment(attachment)
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")


def test_empty_too_large_damaged_and_too_many_pixels_are_refused(settings):
    tenant = TenantFactory(max_upload_mb=1)
    with pytest.raises(InvalidInput) as err:
        attachment_create(tenant=tenant, data=b"", filename="x")
    assert err.value.code == "empty_file"
    with pytest.raises(InvalidInput) as err:
        attachment_create(tenant=tenant, data=b"x" * (1024 * 1024 + 1), filename="x.bin")
    assert err.value.code == "too_large"
    with pytest.raises(InvalidInput) as err:
        attachment_create(tenant=tenant, data=png_bytes()[:40], filename="x.png")
    assert err.value.code == "bad_image"
    settings.KEFU_MAX_IMAGE_PIXELS = 100
    with pytest.raises(InvalidInput) as err:
        attachment_create(tenant=tenant, data=png_bytes((20, 20)), filename="big.png")
    assert err.value.code == "too_many_pixels"


def test_agent_download_is_tenant_scoped(client):
    from tests.factories import AgentFactory

    attachment = attachment_create(tenant=TenantFactory(), data=png_bytes(), filename="a.png")
    stranger = AgentFactory()
    client.force_login(stranger.user)
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 404
    # Not yet sent in any conversation: only the tenant's admins see it.
    colleague = AgentFactory(tenant=attachment.tenant)
    client.force_login(colleague.user)
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 404
    owner = AgentFactory(tenant=attachment.tenant, role="admin")
    client.force_login(owner.user)
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 200
