"""`manage.py pauses_end`: end every breathing space that is over now (what the hourly
schedule `portal.pauses_end` runs). Safe to run alongside workers and more than once."""

from django.core.management.base import BaseCommand

from portal.services import pauses_end_expired


class Command(BaseCommand):
    help = "End the breathing spaces whose last day has passed on the debtor's calendar."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"{pauses_end_expired()} pauses ended.")
