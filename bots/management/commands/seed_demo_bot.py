"""Gives the demo tenant a knowledge base and a local bot (no API key needed)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from bots.knowledge.models import KnowledgeBase
from bots.knowledge.services import faq_create, knowledge_base_create
from bots.models import Bot, ProviderKind
from kefu.models import Tenant

DEMO_FAQ = [
    (
        "退款多久到账?",
        "退款审核通过后 3-5 个工作日原路退回到您的支付账户。",
        ["How long does a refund take?", "退款什么时候到"],
    ),
    (
        "怎么修改收货地址?",
        "订单发货前,可在「我的订单」中点击「修改地址」;已发货的订单请联系人工客服。",
        ["How do I change my shipping address?"],
    ),
    (
        "支持哪些支付方式?",
        "支持微信支付、支付宝、银联卡和 Visa/Mastercard 信用卡。",
        ["Which payment methods do you accept?"],
    ),
    (
        "多久发货?",
        "现货商品在付款后 24 小时内发货,预售商品以商品页标注时间为准。",
        ["When will my order ship?", "什么时候发货"],
    ),
    (
        "可以开发票吗?",
        "可以。在「我的订单」中选择订单并点击「申请发票」,电子发票会发送到您的邮箱。",
        ["Can I get an invoice?"],
    ),
    (
        "营业时间是什么时候?",
        "人工客服工作时间为每天 9:00-21:00,其他时间机器人 24 小时为您服务。",
        ["What are your opening hours?"],
    ),
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo knowledge base and local bot."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", default="demo", help="Tenant slug.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError("No such tenant; run manage.py seed_demo first.")
        kb = KnowledgeBase.objects.filter(tenant=tenant, name="Demo FAQ").first()
        if kb is None:
            kb = knowledge_base_create(tenant=tenant, name="Demo FAQ", description="演示商城常见问题")
            for question, answer, alternates in DEMO_FAQ:
                faq_create(knowledge_base=kb, question=question, answer=answer, alternates=alternates)
        bot, created = Bot.objects.get_or_create(
            tenant=tenant,
            name="小客 Demo bot",
            defaults={"provider": ProviderKind.LOCAL, "welcome_message": "您好,我是智能客服小客,有什么可以帮您?"},
        )
        if created:
            bot.knowledge_bases.add(kb)
        self.stdout.write(f"  Demo bot      : {bot.name} ({bot.provider}), knowledge base with {kb.faqs.count()} FAQs")
