"""Test settings: the product's settings module, with PostgreSQL and Redis when they answer.

DATABASE_URL / REDIS_URL from the environment win. Otherwise the local defaults are
probed; when a service does not answer, tests that need it are reported as not run
(and fail instead when KEFU_REQUIRE_SERVICES=1, as in CI).
"""

import os
import socket


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


if "DATABASE_URL" not in os.environ and _answers("127.0.0.1", 5432):
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/kefu"
if "REDIS_URL" not in os.environ and _answers("127.0.0.1", 6379):
    os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/15"
os.environ.setdefault("DEBUG", "true")
# Assertions are written against the source strings; zh-hans tests switch explicitly.
os.environ.setdefault("LANGUAGE_CODE", "en")
os.environ.setdefault("LOG_FORMAT", "console")
os.environ.setdefault("CHANNEL_LAYER_PREFIX", f"kefutest{os.getpid()}")
os.environ.setdefault("CACHE_PREFIX", f"kefutest{os.getpid()}")
# Two runs on one machine share PostgreSQL and Redis: each gets its own database, queue
# and broker keys, which its server and worker subprocesses inherit (tests/liveserver.py).
os.environ.setdefault("CELERY_QUEUE", f"kefutest{os.getpid()}")
os.environ.setdefault("CELERY_KEY_PREFIX", f"kefutest{os.getpid()}:")

from kefu.settings import *  # noqa: E402,F403
from kefu.settings import BASE_DIR  # noqa: E402

# Deterministic by default; tests of the real worker start one explicitly.
KEFU_TASKS_MODE = "eager"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": f"test_kefu_{os.getpid()}"}  # noqa: F405
MEDIA_ROOT = BASE_DIR / "var" / f"test-media-{os.getpid()}"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOG_LEVEL = "WARNING"
# Whole test runs call the API from 127.0.0.1 many times a minute; the rate-limit tests
# set their own small limits.
KEFU_API_RATE_IP_PER_MINUTE = 100_000
KEFU_API_RATE_SESSION_PER_MINUTE = 100_000
KEFU_API_RATE_KEY_PER_MINUTE = 100_000
