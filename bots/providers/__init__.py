"""AI provider adapters: one thin module per provider behind the facade in `base`."""

from bots.providers.base import Provider, build_provider, register_provider, stream

__all__ = ["Provider", "build_provider", "register_provider", "stream"]
