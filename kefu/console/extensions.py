"""Links that other apps add to the settings navigation.

The core never imports the apps built on it, so an app registers its settings pages here
from its AppConfig.ready(); the navigation renders them after the core's own sections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SettingsLink:
    key: str  # matched against the page's ``section`` to highlight the active link
    label: Any  # a lazy translation, evaluated in the reader's language when rendered
    url_name: str


_settings_links: list[SettingsLink] = []


def register_settings_link(label: Any, url_name: str, *, key: str | None = None) -> None:
    """Add a link; registering the same url name again replaces it (ready() may run twice in tests)."""
    link = SettingsLink(key=key or url_name, label=label, url_name=url_name)
    _settings_links[:] = [existing for existing in _settings_links if existing.url_name != url_name]
    _settings_links.append(link)


def settings_links() -> list[SettingsLink]:
    return list(_settings_links)
