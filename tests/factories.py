"""factory_boy factories for the core models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from kefu.models import Agent, CannedReply, Conversation, Role, Tag, Team, Tenant, Visitor


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")
    allowed_origins = factory.LazyFunction(lambda: ["http://shop.test"])


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
