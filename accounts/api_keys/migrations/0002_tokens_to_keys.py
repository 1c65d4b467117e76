"""Each DRF token (rest_framework.authtoken, no longer installed) becomes a hashed API key with
the same secret, so integrations keep sending `Authorization: Token <the same 40 digits>`; then
the tokens are deleted, so no key is stored in the clear any more.

Read with SQL: the authtoken app is gone from INSTALLED_APPS, and on a database made after it
left the table never existed. The emptied table `authtoken_token` stays; nothing reads it.
Going back cannot make tokens again (only hashes are left): it does nothing.
"""

import hashlib
from datetime import UTC, datetime

from django.db import migrations
from django.utils.dateparse import parse_datetime

TABLE = "authtoken_token"
NAME = "API token (before hashed keys)"


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def tokens_to_keys(apps, schema_editor) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if TABLE not in connection.introspection.table_names(cursor):
            return
        quote = connection.ops.quote_name
        cursor.execute(
            f"SELECT {quote('key')}, {quote('user_id')}, {quote('created')} FROM {quote(TABLE)}"  # noqa: S608
        )
        tokens = cursor.fetchall()
    ApiKey = apps.get_model("api_keys", "ApiKey")
    ApiKey.objects.bulk_create(
        [
            ApiKey(
                user_id=user_id,
                name=NAME,
                prefix=key[:8],
                key_hash=hashlib.sha256(key.encode()).hexdigest(),
                created_at=_aware(created),
                created_by="migrated from an API token",
            )
            for key, user_id, created in tokens
        ]
    )
    if tokens:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {quote(TABLE)}")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [("api_keys", "0001_initial")]

    operations = [migrations.RunPython(tokens_to_keys, migrations.RunPython.noop)]
