"""Load the shipped rule packs so that a fresh database has every region's rules.

Runs the same loader as ``manage.py load_rule_packs`` (compliance.loading.rule_packs_load)
with this migration's historical models. Later pack changes are loaded by that command (or a
later migration calling it); admins' edits are never overwritten without --force.
"""

from django.db import migrations


def load(apps, schema_editor):
    from compliance.loading import SYSTEM_PREFIX, rule_packs_load

    rule_packs_load(apps=apps, actor=SYSTEM_PREFIX + "migration")


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(load, migrations.RunPython.noop),
    ]
