"""The agent console in headless Chromium against a real daphne, PostgreSQL and Redis:
live inbox, reply, canned reply, transfer to a second agent, close, and inert XSS."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from kefu.models import Conversation, Message, Presence, Role, SenderType, Status, Visitor
from tests.browser.console_fixtures import ScriptedVisitor, console_server, login, server_password  # noqa: F401
from tests.browser.widget_helpers import wait_for
from tests.factories import AgentFactory, CannedReplyFactory, TagFactory, TenantFactory, widget_inbox

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
XSS_NAME = '<img src=x onerror=alert("name")>'
XSS_BODY = '<script>alert("body")</script><img src=x onerror=alert(1)> [click](javascript:alert(2)) **bold**'
VIEWPORT = {"width": 1440, "height": 900}


def _online(agent) -> None:
    wait_for(lambda: type(agent).objects.get(pk=agent.pk).presence == Presence.ONLINE, what=f"{agent} online")


def _conversation(tenant) -> Conversation:
    return wait_for(
        lambda: Conversation.objects.filter(tenant=tenant).select_related("assignee").first(), what="conversation"
    )


def test_agent_handles_a_live_conversation_end_to_end(new_page, console_server) -> None:  # noqa: F811
    server = console_server
    tenant = TenantFactory(allowed_origins=["http://shop.console-test"], name="Demo Shop")
    alice = AgentFactory(tenant=tenant, display_name="Alice", role=Role.AGENT)
    bob = AgentFactory(tenant=tenant, display_name="Bob", role=Role.AGENT)
    CannedReplyFactory(
        tenant=tenant, shortcut="thanks", title="Thanks for waiting", body="Thanks for waiting! 感谢您的耐心等待。"
    )
    TagFactory(tenant=tenant, name="vip", color="#e8590c")
    server_password(alice.user)
    server_password(bob.user)

    # Alice signs in; the console says "online" on its socket.
    page = new_page(viewport=VIEWPORT)
    login(page, server, alice.user.username)
    _online(alice)

    # A visitor arrives over the real protocol, with hostile text everywhere.
    visitor = ScriptedVisitor(server, widget_inbox(tenant).key)
    try:
        visitor.contact(name=XSS_NAME, email="li@example.com")
        wait_for(lambda: Visitor.objects.filter(tenant=tenant, name=XSS_NAME).exists(), what="contact stored")
        Visitor.objects.filter(tenant=tenant).update(attributes={"<b>plan</b>": '<img src=x onerror=alert("attr")>'})
        visitor.send("你好,我的订单还没有发货。Order #A-1024")
        visitor.send(XSS_BODY)

        # The conversation arrives live (routing gives it to Alice, the only agent online).
        conv = _conversation(tenant)
        wait_for(lambda: Conversation.objects.get(pk=conv.pk).assignee_id == alice.pk, what="assigned to Alice")
        row = page.locator(f'.inbox-item[data-id="{conv.pk}"]')
        expect(row).to_be_visible(timeout=15000)
        expect(row.locator(".item-name")).to_have_text(XSS_NAME)
        row.click()

        messages = page.locator(".messages")
        expect(messages.locator(".msg.in")).to_have_count(2)
        expect(messages.locator(".msg.in").nth(1)).to_contain_text('<script>alert("body")</script>')
        expect(messages.locator(".msg.in strong", has_text="bold")).to_have_count(1)
        assert messages.locator("script, img[src=x], a[href^='javascript']").count() == 0
        expect(page.locator(".visitor-name")).to_have_text(XSS_NAME)
        expect(page.locator(".details").first).to_contain_text("Safari")
        expect(page.locator(".details").first).to_contain_text("iOS")
        expect(page.locator(".details").nth(1)).to_contain_text("<img src=x onerror")

        # Reply in markdown.
        box = page.locator("#composer-input")
        box.fill("Hi! Let me check order **A-1024** for you.")
        box.press("Enter")
        reply = "Hi! Let me check order **A-1024** for you."
        wait_for(
            lambda: Message.objects.filter(conversation=conv, sender_type=SenderType.AGENT, body=reply).exists(),
            what="agent reply stored",
        )
        wait_for(lambda: visitor.received(reply), what="visitor got the reply")
        expect(messages.locator(".msg.out strong", has_text="A-1024")).to_have_count(1)

        # A canned reply through /shortcut completion.
        box.fill("/tha")
        option = page.locator('.canned-menu li[data-shortcut="thanks"]')
        expect(option).to_be_visible()
        box.press("Enter")
        expect(box).to_have_value("Thanks for waiting! 感谢您的耐心等待。")
        box.press("Enter")
        wait_for(lambda: visitor.received("Thanks for waiting! 感谢您的耐心等待。"), what="canned reply delivered")

        # An internal note the visitor never sees.
        page.locator("#internal-toggle").check()
        box.fill("Customer is a VIP, escalate if needed")
        box.press("Enter")
        wait_for(lambda: Message.objects.filter(conversation=conv, is_internal=True).exists(), what="note stored")
        page.locator("#internal-toggle").uncheck()

        # Tag it.
        tag_input = page.locator(".tag-input")
        tag_input.fill("vip")
        tag_input.press("Enter")
        expect(page.locator(".tag-list .tag")).to_have_count(1)

        # The visitor types; Alice sees it.
        visitor.ws.send('{"type": "typing", "state": true}')
        expect(page.locator(".typing")).to_be_visible()
        visitor.send("好的,谢谢!")
        expect(messages.locator(".msg.in")).to_have_count(3)

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("document.getElementById('toasts').replaceChildren()")
        page.screenshot(path=str(SCREENSHOTS / "console-xss.png"))
        assert not visitor.received("Customer is a VIP, escalate if needed")

        # Bob signs in in a second browser context and gets the conversation by transfer.
        page2 = new_page(viewport=VIEWPORT)
        login(page2, server, bob.user.username)
        _online(bob)
        page.locator('[data-action="Transfer"]').click()
        page.locator("#transfer-target").select_option(f"agent:{bob.pk}")
        page.locator("#transfer-note").fill("Order question, please follow up")
        page.locator("#transfer-confirm").click()
        wait_for(lambda: Conversation.objects.get(pk=conv.pk).assignee_id == bob.pk, what="transferred to Bob")

        row2 = page2.locator(f'.inbox-item[data-id="{conv.pk}"]')
        expect(row2).to_be_visible(timeout=15000)  # live, without a reload
        row2.click()
        expect(page2.locator(".event-line", has_text="Bob")).to_have_count(1)
        # Notes, including the transfer note, travel with the conversation.
        expect(page2.locator(".msg.internal", has_text="Order question, please follow up")).to_have_count(1)
        # Alice's note, the transfer note and the labeled summary at transfer.
        expect(page2.locator(".msg.internal")).to_have_count(3)
        expect(page2.locator(".msg.internal", has_text="Summary at transfer:")).to_have_count(1)
        assert not visitor.received("Order question, please follow up")

        page2.locator('[data-action="Close"]').click()
        wait_for(lambda: Conversation.objects.get(pk=conv.pk).status == Status.CLOSED, what="closed")
        expect(page2.locator('[data-action="Reopen"]')).to_be_visible()

        for p in (page, page2):
            assert p.kefu_dialogs == [], p.kefu_dialogs
            assert p.kefu_errors == [], p.kefu_errors
    finally:
        visitor.close()


def _seed_showcase(tenant, agent) -> Conversation:
    from kefu.services.conversations import conversation_assign, conversation_open
    from kefu.services.messages import message_send
    from tests.factories import TeamFactory, VisitorFactory

    TeamFactory(tenant=tenant, name="售后 After-sales")
    vip, refund = TagFactory(tenant=tenant, name="VIP", color="#d9480f"), TagFactory(tenant=tenant, name="退款 refund")
    people = [
        ("王小明", "我想退货,订单号 20240518-3321,衣服尺码不合适。", "wang@example.com"),
        ("Emma Johnson", "Hi, does the Pro plan include API access?", "emma@example.com"),
        ("李娜", "发票什么时候可以开?", ""),
        ("陈伟", "收到的商品有破损,怎么处理?", ""),
    ]
    convs = []
    for n, (name, text, email) in enumerate(people):
        visitor = VisitorFactory(
            tenant=tenant,
            name=name,
            email=email,
            user_agent=IPHONE_UA if n % 2 == 0 else WIN_UA,
            current_url="https://shop.example.com/orders/20240518-3321",
            referrer="https://www.baidu.com/",
            attributes={"plan": "Pro", "orders": 12} if n == 0 else {},
            identity_verified=n == 0,
            external_id="u-1001" if n == 0 else None,
        )
        conv, _ = conversation_open(tenant=tenant, visitor=visitor)
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body=text)
        convs.append(conv)
    main = convs[0]
    main.tags.add(vip, refund)
    message_send(
        conversation=main,
        sender_type=SenderType.BOT,
        body="您好!退货需在签收后 **7 天内** 申请:\n- 商品未穿着、吊牌完好\n- 在「我的订单」中点击 *申请退货*",
        metadata={"sources": [{"title": "退换货政策", "url": "https://shop.example.com/help/returns"}]},
    )
    message_send(conversation=main, sender_type=SenderType.VISITOR, body="我要转人工")
    conversation_assign(conversation=main, agent=agent, actor=agent)
    message_send(
        conversation=main,
        sender_type=SenderType.AGENT,
        agent=agent,
        body="您好,我是客服小张。已查到您的订单,马上为您办理退货。",
    )
    message_send(
        conversation=main, sender_type=SenderType.AGENT, agent=agent, is_internal=True, body="老客户,运费我们承担"
    )
    message_send(conversation=main, sender_type=SenderType.VISITOR, body="太好了,谢谢!退货地址是哪里?")
    conversation_assign(conversation=convs[1], agent=agent, actor=agent)
    # The other two belong to a colleague, so routing has nothing left to hand out.
    colleague = AgentFactory(tenant=tenant, display_name="李客服 Li")
    for conv in convs[2:]:
        conversation_assign(conversation=conv, agent=colleague, actor=colleague)
    return main


WIN_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1"
)


@pytest.mark.parametrize(
    "locale,shot,mine_label",
    [
        ("zh-CN", "console-zh.png", "我的"),
        ("en-US", "console.png", "Mine"),
    ],
)
def test_console_in_both_languages_with_search(new_page, console_server, locale, shot, mine_label) -> None:  # noqa: F811
    tenant = TenantFactory(name="Demo Shop 演示商城")
    agent = AgentFactory(tenant=tenant, display_name="张客服 Zhang", role=Role.OWNER)
    server_password(agent.user)
    main = _seed_showcase(tenant, agent)
    page = new_page(viewport=VIEWPORT, locale=locale)
    login(page, console_server, agent.user.username)
    expect(page.locator('#inbox-tabs .tab[data-box="mine"]')).to_contain_text(mine_label)
    expect(page.locator(".inbox-item")).to_have_count(2)  # mine: the two assigned to Zhang
    page.locator('#inbox-tabs .tab[data-box="all"]').click()
    expect(page.locator(".inbox-item")).to_have_count(4)
    page.locator("#inbox-search").fill("20240518")  # message text search
    expect(page.locator(".inbox-item")).to_have_count(1)
    page.locator("#inbox-search").fill("emma")  # visitor search
    expect(page.locator(".inbox-item .item-name")).to_have_text(["Emma Johnson"])
    page.locator("#inbox-search").fill("")
    page.locator('#inbox-tabs .tab[data-box="mine"]').click()
    expect(page.locator(".inbox-item")).to_have_count(2)
    page.locator(f'.inbox-item[data-id="{main.pk}"]').click()
    expect(page.locator(".messages .msg")).to_have_count(6)
    expect(page.locator(".badge.verified")).to_be_visible()
    expect(page.locator(".msg.bot .sources")).to_contain_text("退换货政策")
    page.locator("#assist-button").click()
    expect(page.locator(".assist-off")).to_be_visible()  # no provider: said plainly, nothing faked
    page.locator("#composer-input").fill("退货地址:上海市浦东新区 **XX 路 88 号**,请在包裹内附上订单号。")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / shot))
    if locale == "en-US":
        page.goto(f"{console_server.url}/console/settings/agents/")
        page.screenshot(path=str(SCREENSHOTS / "console-settings.png"))
    assert page.kefu_errors == [] and page.kefu_dialogs == []
