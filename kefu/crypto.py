"""Encryption at rest for tenant credentials (AI provider keys, webhook secrets)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

PREFIX = "enc1:"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    # Derive Fernet keys from the configured secrets; the first encrypts, all decrypt,
    # so KEFU_ENCRYPTION_KEYS can be rotated by prepending a new key.
    return MultiFernet([Fernet(base64.urlsafe_b64encode(hashlib.sha256(k.encode()).digest())) for k in keys])


def _keys() -> tuple[str, ...]:
    configured = tuple(getattr(settings, "KEFU_ENCRYPTION_KEYS", ()) or ())
    return configured or (settings.SECRET_KEY,)


def encrypt(plain: str) -> str:
    if not plain:
        return ""
    return PREFIX + _fernet(_keys()).encrypt(plain.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored or not stored.startswith(PREFIX):
        return stored or ""
    try:
        return _fernet(_keys()).decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ValueError("cannot decrypt a stored secret: was KEFU_ENCRYPTION_KEYS changed?") from None


class EncryptedTextField(models.TextField):
    """Stores Fernet ciphertext; Python code sees the plain value."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str:
        return decrypt(value) if value else ""

    def get_prep_value(self, value: Any) -> str:
        value = super().get_prep_value(value)
        return encrypt(value) if value else ""
