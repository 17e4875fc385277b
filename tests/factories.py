"""factory_boy factories for the core models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from kefu.models import Agent, CannedReply, Channel, Conversation, Inbox, Role, Tag, Team, Tenant, Visitor
from kefu.models.inboxes import default_widget_settings, new_inbox_key


class InboxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Inbox

    tenant = factory.SubFactory("tests.factories.TenantFactory", widget=False)
    name = factory.Sequence(lambda n: f"Inbox {n}")
    channel = Channel.WIDGET
    key = factory.LazyAttribute(lambda o: new_inbox_key(o.channel))
    allowed_origins = factory.LazyFunction(lambda: ["http://shop.test"])


class TenantFactory(factory.django.DjangoModelFactory):
    """A tenant with its first website widget (an inbox), as a real tenant has; the
    widget's origins, settings and hours can be passed as the tenant's used to be."""

    class Meta:
        model = Tenant
        skip_postgeneration_save = True

    class Params:
        widget = True
        allowed_origins = factory.LazyFunction(lambda: ["http://shop.test"])
        widget_settings = factory.LazyFunction(default_widget_settings)
        business_hours = factory.LazyFunction(dict)

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")
    widget_inbox = factory.Maybe(
        "widget",
        yes_declaration=factory.RelatedFactory(
            InboxFactory,
            factory_related_name="tenant",
            name="Website",
            channel=Channel.WIDGET,
            allowed_origins=factory.SelfAttribute("..allowed_origins"),
            widget_settings=factory.SelfAttribute("..widget_settings"),
            business_hours=factory.SelfAttribute("..business_hours"),
        ),
    )


def widget_inbox(tenant: Tenant) -> Inbox:
    """The tenant's first website widget."""
    return Inbox.objects.filter(tenant=tenant, channel=Channel.WIDGET).order_by("created_at", "pk").first()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-123456")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    display_name = factory.Sequence(lambda n: f"Agent {n}")
    role = Role.AGENT
    capacity = 5


class VisitorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visitor

    tenant = factory.SubFactory(TenantFactory)
    anon_id = factory.Sequence(lambda n: f"anon-{n:08d}")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    tenant = factory.SubFactory(TenantFactory)
    visitor = factory.SubFactory(VisitorFactory, tenant=factory.SelfAttribute("..tenant"))
    inbox = factory.LazyAttribute(lambda o: widget_inbox(o.tenant) or InboxFactory(tenant=o.tenant))
    channel = factory.LazyAttribute(lambda o: o.inbox.channel)


class CannedReplyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CannedReply

    tenant = factory.SubFactory(TenantFactory)
    shortcut = factory.Sequence(lambda n: f"reply{n}")
    title = "Title"
    body = "Body"


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"tag{n}")
