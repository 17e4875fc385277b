"""Whether this database offers pgvector; everything works without it (numpy in process)."""

from __future__ import annotations

from functools import lru_cache

from django.db import DatabaseError, connection


@lru_cache(maxsize=1)
def pgvector_available() -> bool:
    """True when the `vector` extension is installed in this PostgreSQL database."""
    if connection.vendor != "postgresql":
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
            return cursor.fetchone() is not None
    except DatabaseError:
        return False
