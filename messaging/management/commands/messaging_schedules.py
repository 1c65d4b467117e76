"""`manage.py messaging_schedules`: create or update the messaging schedules (idempotent)."""

from django.core.management.base import BaseCommand

from messaging.schedules import schedules_ensure


class Command(BaseCommand):
    help = "Create or update the messaging app's django-q2 schedules (by name)."

    def handle(self, *args, **options):
        for name in schedules_ensure():
            self.stdout.write(f"schedule ok: {name}")
