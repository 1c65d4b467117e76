"""Tones, the two groups of the message library and the compliance approval workflow.

Idempotent (get-or-create by name): content editors ("Content editors") write variants and
submit them; "Compliance reviewers" approve them through the "Compliance approval" workflow
(a GroupApprovalTask) and are the only group holding the publish permission, so a variant goes
live only once a reviewer approved it.
"""

from django.db import migrations

TONES = [
    ("Friendly", "friendly", "Warm and informal; for early stages and good payers.", 10),
    ("Empathetic", "empathetic", "Acknowledges difficulty; offers help and options.", 20),
    ("Formal", "formal", "Neutral and precise; for statements and letters.", 30),
    ("Firm", "firm", "Clear about consequences, never threatening; late stages.", 40),
]


def _perm(apps, app_label, model, codename, name):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    ct, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
    perm, _ = Permission.objects.get_or_create(
        content_type=ct, codename=codename, defaults={"name": name}
    )
    return perm


def setup(apps, schema_editor):
    Tone = apps.get_model("messaging", "Tone")
    Group = apps.get_model("auth", "Group")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Workflow = apps.get_model("wagtailcore", "Workflow")
    WorkflowTask = apps.get_model("wagtailcore", "WorkflowTask")
    WorkflowContentType = apps.get_model("wagtailcore", "WorkflowContentType")
    GroupApprovalTask = apps.get_model("wagtailcore", "GroupApprovalTask")

    for name, slug, description, order in TONES:
        Tone.objects.get_or_create(
            slug=slug, defaults={"name": name, "description": description, "sort_order": order}
        )

    def variant(action):
        return _perm(apps, "messaging", "messagevariant", f"{action}_messagevariant",
                     f"Can {action} message variant")

    def tone(action):
        return _perm(apps, "messaging", "tone", f"{action}_tone", f"Can {action} tone")

    admin_access = _perm(apps, "wagtailadmin", "admin", "access_admin", "Can access Wagtail admin")

    reviewers, _ = Group.objects.get_or_create(name="Compliance reviewers")
    reviewers.permissions.add(
        admin_access,
        *(variant(a) for a in ("view", "change", "publish", "lock", "unlock")),
        tone("view"),
    )
    editors, _ = Group.objects.get_or_create(name="Content editors")
    editors.permissions.add(
        admin_access,
        *(variant(a) for a in ("view", "add", "change", "delete", "lock", "unlock")),
        *(tone(a) for a in ("view", "add", "change")),
    )

    task_ct, _ = ContentType.objects.get_or_create(
        app_label="wagtailcore", model="groupapprovaltask"
    )
    task = GroupApprovalTask.objects.filter(name="Compliance review").first()
    if task is None:
        task = GroupApprovalTask.objects.create(
            name="Compliance review", content_type=task_ct, active=True
        )
    task.groups.add(reviewers)
    workflow, _ = Workflow.objects.get_or_create(
        name="Compliance approval", defaults={"active": True}
    )
    WorkflowTask.objects.get_or_create(workflow=workflow, task=task, defaults={"sort_order": 0})
    variant_ct, _ = ContentType.objects.get_or_create(
        app_label="messaging", model="messagevariant"
    )
    WorkflowContentType.objects.update_or_create(
        content_type=variant_ct, defaults={"workflow": workflow}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0001_initial"),
        ("wagtailadmin", "0006_formstate"),
        ("wagtailcore", "0098_apitoken"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(setup, migrations.RunPython.noop)]
