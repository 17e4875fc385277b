# Inboxes, step 2 of 3: each tenant's widget becomes its first inbox, with the same key
# (embed codes already pasted into sites keep working), origins, appearance, texts and
# business hours; every conversation joins the inbox of its channel. Reversible: going
# back copies the first widget inbox onto the tenant again.

import secrets

from django.db import migrations


def _inbox_name(tenant, channel):
    zh = (tenant.locale or "").startswith("zh")
    if channel == "widget":
        return "网站" if zh else "Website"
    return "API"


def forwards(apps, schema_editor):
    Tenant = apps.get_model("kefu", "Tenant")
    Inbox = apps.get_model("kefu", "Inbox")
    Conversation = apps.get_model("kefu", "Conversation")
    for tenant in Tenant.objects.order_by("pk").iterator():
        widget = Inbox.objects.create(
            tenant=tenant,
            name=_inbox_name(tenant, "widget"),
            channel="widget",
            key=tenant.widget_key,
            is_active=True,
            allowed_origins=list(tenant.allowed_origins or []),
            widget_settings=dict(tenant.widget_settings or {}),
            business_hours=dict(tenant.business_hours or {}),
            timezone="",  # follows the tenant's
        )
        Conversation.objects.filter(tenant=tenant, channel="widget").update(inbox=widget)
        # Any other channel a conversation names (today only "api") gets an inbox of its own.
        others = (
            Conversation.objects.filter(tenant=tenant, inbox__isnull=True)
            .order_by()
            .values_list("channel", flat=True)
            .distinct()
        )
        for channel in sorted(set(others)):
            inbox = Inbox.objects.create(
                tenant=tenant, name=_inbox_name(tenant, channel), channel=channel, business_hours={}
            )
            Conversation.objects.filter(tenant=tenant, channel=channel, inbox__isnull=True).update(inbox=inbox)


def backwards(apps, schema_editor):
    Tenant = apps.get_model("kefu", "Tenant")
    Inbox = apps.get_model("kefu", "Inbox")
    for tenant in Tenant.objects.order_by("pk").iterator():
        widget = Inbox.objects.filter(tenant=tenant, channel="widget").order_by("created_at", "pk").first()
        if widget is None:
            tenant.widget_key = "wk_" + secrets.token_urlsafe(18)
            tenant.save(update_fields=["widget_key"])
            continue
        tenant.widget_key = widget.key
        tenant.allowed_origins = widget.allowed_origins
        tenant.widget_settings = widget.widget_settings
        tenant.business_hours = widget.business_hours
        tenant.save(update_fields=["widget_key", "allowed_origins", "widget_settings", "business_hours"])


class Migration(migrations.Migration):
    dependencies = [
        ("kefu", "0002_inbox"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
