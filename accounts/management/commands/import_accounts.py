"""`manage.py import_accounts FILE.csv --creditor SLUG`: place accounts from a CSV file."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts import placement, services
from accounts.models import Creditor


class Command(BaseCommand):
    help = (
        "Place accounts from a CSV file through the placement service (idempotent by "
        "external_ref). Prints a summary and every rejected row; exits 1 if any row was rejected."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--creditor", required=True, help="The creditor's slug.")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the full result as JSON."
        )

    def handle(self, *args, file: Path, creditor: str, as_json: bool = False, **options) -> None:
        try:
            owner = Creditor.objects.get(slug=creditor)
        except Creditor.DoesNotExist as exc:
            raise CommandError(f"No creditor with slug {creditor!r}.") from exc
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        try:
            rows = placement.rows_from_csv(data)
        except placement.CsvError as exc:
            raise CommandError(f"{file}: {exc}") from exc
        if not rows:
            raise CommandError(f"{file} has no rows.")
        result = services.placement_upsert(creditor=owner, rows=rows, actor="command:import")
        body = result.as_dict()
        if as_json:
            self.stdout.write(_dumps(body))
        else:
            self.stdout.write(
                "{received} rows: {created} created, {updated} updated, {unchanged} unchanged, "
                "{rejected} rejected.".format(**body["summary"])
            )
            for row in result.rejected:
                for sentence in placement.rejected_row_errors(row):
                    self.stderr.write(sentence)
        if result.rejected:
            raise SystemExit(1)


def _dumps(value) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
