# Inboxes, step 3 of 3: every conversation has an inbox; one open conversation per
# visitor and inbox; the tenant's widget columns, now on its first inbox, are dropped.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("kefu", "0003_inbox_from_tenant_widget"),
    ]

    operations = [
        migrations.AlterField(
            model_name="conversation",
            name="inbox",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="conversations",
                to="kefu.inbox",
                verbose_name="inbox",
            ),
        ),
        migrations.RemoveConstraint(
            model_name="conversation",
            name="conversation_one_open_per_visitor",
        ),
        migrations.AddConstraint(
            model_name="conversation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "closed"), _negated=True),
                fields=("visitor", "inbox"),
                name="conversation_one_open_per_inbox",
            ),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(fields=["inbox", "status", "-last_message_at"], name="conv_inbox_status_recent"),
        ),
        migrations.RemoveField(model_name="tenant", name="allowed_origins"),
        migrations.RemoveField(model_name="tenant", name="business_hours"),
        migrations.RemoveField(model_name="tenant", name="widget_key"),
        migrations.RemoveField(model_name="tenant", name="widget_settings"),
    ]
