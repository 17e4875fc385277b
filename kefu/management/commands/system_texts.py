"""Write static/kefu/shared/system-texts.json, the system texts the widget bundles (kefu/system_texts.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from kefu import system_texts


class Command(BaseCommand):
    help = "Write the widget's copy of the system texts in every language (run after editing the .po files)."

    def handle(self, *args: Any, **options: Any) -> None:
        system_texts.CATALOGUE_FILE.write_text(system_texts.catalogue_json(), encoding="utf-8")
        self.stdout.write(f"wrote {system_texts.CATALOGUE_FILE}")
