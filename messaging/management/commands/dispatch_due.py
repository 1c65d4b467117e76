"""`manage.py dispatch_due`: hand every due message to its backend now (what the schedule
runs every minute). Safe to run alongside workers and to interrupt."""

from django.core.management.base import BaseCommand

from messaging.services import dispatch_due


class Command(BaseCommand):
    help = "Hand every due message to its channel backend."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=None)

    def handle(self, *args, **options):
        result = dispatch_due(batch_size=options["batch_size"])
        self.stdout.write(
            f"claimed {result.claimed}, sent {result.sent}, rescheduled {result.rescheduled}, "
            f"cancelled {result.cancelled}, failed {result.failed}, retried {result.retried}, "
            f"released {result.released}"
        )
