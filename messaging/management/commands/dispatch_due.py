"""`manage.py dispatch_due`: hand every due message to its backend now (what the schedule
runs every minute). Safe to run alongside workers and to interrupt."""

from django.core.management.base import BaseCommand, CommandError

from messaging.services import dispatch_due


class Command(BaseCommand):
    help = "Hand every due message to its channel backend."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=None)

    def handle(self, *args, **options):
        batch_size = options["batch_size"]
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be a positive number of messages.")
        result = dispatch_due(batch_size=batch_size)
        self.stdout.write(result.describe())
