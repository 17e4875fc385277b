# The channel list grew with the inboxes (kefu 0002): WeChat, WeCom, e-mail, Telegram.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("bots", "0002_hooks_media_and_options"),
        ("kefu", "0002_inbox"),
    ]

    operations = [
        migrations.AlterField(
            model_name="bot",
            name="channel",
            field=models.CharField(
                choices=[
                    ("widget", "Website widget"),
                    ("api", "API"),
                    ("wechat", "WeChat Official Account"),
                    ("wecom", "WeCom customer service"),
                    ("email", "E-mail"),
                    ("telegram", "Telegram"),
                ],
                default="widget",
                max_length=10,
                verbose_name="channel",
            ),
        ),
    ]
