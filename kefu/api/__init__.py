"""The REST API (v1), documented with OpenAPI at /api/schema/."""
