"""Trigram indexes for the casework search (collections_site/casework/search.py), PostgreSQL
only: the `pg_trgm` extension, and GIN trigram indexes on what the search matches.

- `UPPER(col::text)`: the expression Django's `icontains` compares on PostgreSQL, so a
  substring search on a reference, a name or an e-mail is an index scan;
- the plain name columns, for the `%>` (trigram word similarity) operator;
- the phone column, for `contains` on its digits.

On other databases this migration does nothing (the search falls back to `icontains`).
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = [
    ("casework_debtor_ref_trgm", "accounts_debtor", 'UPPER("external_ref"::text)'),
    ("casework_debtor_first_up_trgm", "accounts_debtor", 'UPPER("first_name"::text)'),
    ("casework_debtor_last_up_trgm", "accounts_debtor", 'UPPER("last_name"::text)'),
    ("casework_debtor_email_trgm", "accounts_debtor", 'UPPER("email"::text)'),
    ("casework_debtor_first_trgm", "accounts_debtor", '"first_name"'),
    ("casework_debtor_last_trgm", "accounts_debtor", '"last_name"'),
    ("casework_debtor_phone_trgm", "accounts_debtor", '"phone"'),
    ("casework_account_ref_trgm", "accounts_account", 'UPPER("external_ref"::text)'),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, expression in INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin (({expression}) gin_trgm_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _expression in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_privacy")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create, drop, elidable=False),
    ]
