"""The recommender's django-q2 schedules, created idempotently (update-or-create by name).

Hourly planning; nightly typologies (01:30 UTC) and retraining (02:00 UTC) as daily schedules
whose first run is the next such time (no cron, so croniter is not needed).
"""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

SCHEDULES = [
    # (name, func, schedule type, first run at HH:MM UTC or None for "now")
    ("recommender.plan_contacts", "recommender.tasks.plan_contacts_task", "H", None),
    ("recommender.typology_refresh", "recommender.tasks.typology_refresh_task", "D", (1, 30)),
    ("recommender.retrain", "recommender.tasks.model_retrain_task", "D", (2, 0)),
]


def _next(at):
    now = timezone.now()
    if at is None:
        return now
    run = now.replace(hour=at[0], minute=at[1], second=0, microsecond=0)
    return run if run > now else run + timedelta(days=1)


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, kind, at in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": kind, "repeats": -1, "next_run": _next(at)},
        )


def remove(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommender", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
