"""Creates the demo tenant, its people and canned replies; safe to run again."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from django.db import transaction

from kefu.models import Agent, CannedReply, Channel, Inbox, Role, Tag, Team, Tenant

DEMO_PASSWORD = "kefu-demo-2026"  # noqa: S105  (printed on purpose: demo logins)
PEOPLE = [
    ("owner", "店长 Owner", Role.OWNER),
    ("alice", "Alice 客服", Role.AGENT),
    ("bob", "Bob 客服", Role.AGENT),
]
CANNED = [
    ("hello", "问候 Greeting", "您好,很高兴为您服务!请问有什么可以帮您?"),
    ("wait", "请稍等 Please wait", "请稍等,我马上为您查询。"),
    ("bye", "结束 Goodbye", "感谢您的咨询,祝您生活愉快!如有其他问题随时联系我们。"),
    ("refund", "退款 Refund", "退款会在审核通过后 3-5 个工作日原路退回。"),
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant with an owner, two agents and canned replies."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--demo-origin", action="append", default=[], help="Extra origin allowed to embed the widget."
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        origins = ["http://127.0.0.1:8001", "http://localhost:8001", *options["demo_origin"]]
        tenant, _ = Tenant.objects.get_or_create(
            slug="demo", defaults={"name": "Demo Shop 演示商城", "notify_email": "owner@example.com"}
        )
        widget, _ = Inbox.objects.get_or_create(
            key="wk_demo_public_key", defaults={"tenant": tenant, "name": "演示商城网站", "channel": Channel.WIDGET}
        )
        widget.allowed_origins = sorted(set(widget.allowed_origins) | set(origins))
        if not widget.widget_settings.get("welcome"):
            widget.widget_settings = {**widget.widget_settings, "welcome": "您好,欢迎光临演示商城!有什么可以帮您?"}
        widget.save(update_fields=["allowed_origins", "widget_settings"])
        team, _ = Team.objects.get_or_create(tenant=tenant, name="售前 Sales")
        Team.objects.get_or_create(tenant=tenant, name="售后 Support")
        users = get_user_model()
        for username, name, role in PEOPLE:
            user, created = users.objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.com", "is_staff": role == Role.OWNER}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            agent, _ = Agent.objects.get_or_create(
                user=user, defaults={"tenant": tenant, "display_name": name, "role": role, "capacity": 5}
            )
            if role == Role.AGENT:
                agent.teams.add(team)
        for shortcut, title, body in CANNED:
            CannedReply.objects.get_or_create(tenant=tenant, shortcut=shortcut, defaults={"title": title, "body": body})
        for name, color in (("VIP", "#faad14"), ("投诉", "#f5222d"), ("售前", "#1677ff")):
            Tag.objects.get_or_create(tenant=tenant, name=name, defaults={"color": color})

        base = settings.KEFU_PUBLIC_URL
        self.stdout.write(self.style.SUCCESS("Demo tenant ready: " + tenant.name))
        self.stdout.write(f"  Agent console : {base}/console/")
        self.stdout.write(f"  Admin         : {base}/admin/")
        for username, name, role in PEOPLE:
            self.stdout.write(f"  {role:<6} login : {username} / {DEMO_PASSWORD}   ({name})")
        self.stdout.write(f"  Widget key    : {widget.key}")
        # The bots app seeds its part when installed; the core never imports it.
        if "seed_demo_bot" in get_commands():
            call_command("seed_demo_bot", tenant=tenant.slug, stdout=self.stdout)
