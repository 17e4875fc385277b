# Inboxes, step 1 of 3: the table and the nullable links (schema only; 0003 copies the
# tenants' widgets into it, 0004 makes the conversation's inbox required and drops the
# tenant's widget columns). Separate migrations, because PostgreSQL refuses to alter a
# table in the transaction that just updated its rows (pending deferred FK checks).

import django.db.models.deletion
import kefu.crypto
import kefu.models.inboxes
from django.db import migrations, models

CHANNELS = [
    ("widget", "Website widget"),
    ("api", "API"),
    ("wechat", "WeChat Official Account"),
    ("wecom", "WeCom customer service"),
    ("email", "E-mail"),
    ("telegram", "Telegram"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("kefu", "0001_initial"),
    ]

    operations = [
        # Nullable while it is being moved, so that going back can re-add the unique
        # column empty (0004 backwards) before 0003 backwards fills it in.
        migrations.AlterField(
            model_name="tenant",
            name="widget_key",
            field=models.CharField(max_length=64, null=True, unique=True, verbose_name="public widget key"),
        ),
        migrations.CreateModel(
            name="Inbox",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=80, verbose_name="name")),
                ("channel", models.CharField(choices=CHANNELS, max_length=10, verbose_name="channel")),
                (
                    "key",
                    models.CharField(
                        default=kefu.models.inboxes.new_inbox_key,
                        help_text="The widget key in the embed code, or the last part of the channel's callback URL.",
                        max_length=64,
                        unique=True,
                        verbose_name="public key",
                    ),
                ),
                ("is_active", models.BooleanField(default=True, verbose_name="active")),
                (
                    "allowed_origins",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text='Sites that may embed the widget, e.g. ["https://shop.example.com"].',
                        verbose_name="allowed widget origins",
                    ),
                ),
                (
                    "widget_settings",
                    models.JSONField(
                        blank=True, default=kefu.models.inboxes.default_widget_settings, verbose_name="widget settings"
                    ),
                ),
                ("business_hours", models.JSONField(blank=True, default=dict, verbose_name="business hours")),
                (
                    "timezone",
                    models.CharField(
                        blank=True, help_text="Empty: the tenant's time zone.", max_length=64, verbose_name="time zone"
                    ),
                ),
                (
                    "routing_policy",
                    models.CharField(
                        blank=True,
                        choices=[("least_load", "Least load"), ("round_robin", "Round robin")],
                        help_text="Empty: the tenant's policy.",
                        max_length=20,
                        verbose_name="routing policy",
                    ),
                ),
                (
                    "auto_assign",
                    models.BooleanField(
                        default=True,
                        help_text="Off: agents pick conversations from the queue.",
                        verbose_name="assign automatically",
                    ),
                ),
                ("config", models.JSONField(blank=True, default=dict, verbose_name="channel settings")),
                (
                    "credentials_data",
                    kefu.crypto.EncryptedTextField(
                        blank=True, db_column="credentials", verbose_name="channel credentials"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                (
                    "team",
                    models.ForeignKey(
                        blank=True,
                        help_text="New conversations wait in this team's queue.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="inboxes",
                        to="kefu.team",
                        verbose_name="team",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="inboxes",
                        to="kefu.tenant",
                        verbose_name="tenant",
                    ),
                ),
            ],
            options={
                "verbose_name": "inbox",
                "verbose_name_plural": "inboxes",
                "ordering": ["tenant", "created_at", "id"],
                "indexes": [models.Index(fields=["tenant", "channel"], name="inbox_tenant_channel")],
            },
        ),
        migrations.AlterField(
            model_name="conversation",
            name="channel",
            field=models.CharField(choices=CHANNELS, default="widget", max_length=10, verbose_name="channel"),
        ),
        migrations.AddField(
            model_name="agent",
            name="inboxes",
            field=models.ManyToManyField(
                blank=True,
                help_text="Empty: every inbox. Otherwise the agent sees and is assigned only these inboxes' conversations.",
                related_name="agents",
                to="kefu.inbox",
                verbose_name="inboxes",
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="inbox",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="conversations",
                to="kefu.inbox",
                verbose_name="inbox",
            ),
        ),
    ]
