"""Kefu: the project package and the core live-chat domain."""

from kefu.celery import app as celery_app

__all__ = ["celery_app"]
