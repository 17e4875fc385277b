"""A small user-agent parser: enough for "Chrome 120 on Windows, desktop" in the visitor panel.

A full parser (ua-parser) ships a large regex database; agents only need a hint.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = [
    ("WeChat", re.compile(r"MicroMessenger/([\d.]+)")),
    ("QQ Browser", re.compile(r"MQQBrowser/([\d.]+)|QQBrowser/([\d.]+)")),
    ("UC Browser", re.compile(r"UCBrowser/([\d.]+)")),
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/([\d.]+)")),
    ("Opera", re.compile(r"OPR/([\d.]+)")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/([\d.]+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/([\d.]+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS)/([\d.]+)")),
    ("Safari", re.compile(r"Version/([\d.]+).*Safari/")),
]
_OSES = [
    ("iOS", re.compile(r"(?:iPhone|iPad|iPod).*? OS ([\d_]+)")),
    ("Android", re.compile(r"Android ([\d.]+)")),
    ("HarmonyOS", re.compile(r"HarmonyOS ?([\d.]*)")),
    ("Windows", re.compile(r"Windows NT ([\d.]+)")),
    ("macOS", re.compile(r"Mac OS X ([\d_.]+)")),
    ("Chrome OS", re.compile(r"CrOS \S+ ([\d.]+)")),
    ("Linux", re.compile(r"Linux()")),
]
_WINDOWS = {"10.0": "10/11", "6.3": "8.1", "6.2": "8", "6.1": "7"}
_BOT = re.compile(r"bot|crawler|spider|headless", re.IGNORECASE)


@dataclass(frozen=True)
class UserAgent:
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str  # desktop, mobile, tablet, bot

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _major(version: str) -> str:
    return version.split(".")[0] if version else ""


def parse_user_agent(ua: str) -> UserAgent:
    ua = (ua or "")[:400]
    browser = version = ""
    for name, pattern in _BROWSERS:
        match = pattern.search(ua)
        if match:
            browser, version = name, next((g for g in match.groups() if g), "")
            break
    os_name = os_version = ""
    for name, pattern in _OSES:
        match = pattern.search(ua)
        if match:
            os_name, os_version = name, (match.group(1) or "").replace("_", ".")
            break
    if os_name == "Windows":
        os_version = _WINDOWS.get(os_version, os_version)
    if _BOT.search(ua):
        device = "bot"
    elif "iPad" in ua or "Tablet" in ua or (os_name == "Android" and "Mobile" not in ua):
        device = "tablet"
    elif "Mobi" in ua or "iPhone" in ua:
        device = "mobile"
    else:
        device = "desktop"
    return UserAgent(browser, _major(version), os_name, os_version, device)
