"""The creditor-user role: the marker permission `creditor_user_role`, the recall permission,
and the "Creditor users" group holding the role's permissions (accounts/roles.py,
`CREDITOR_USER_PERMISSIONS`; a test keeps this list equal to it).

Idempotent (get-or-create by name and codename). Permissions of other apps are made here if
their apps have not made them yet, as Django would name them.
"""

from django.db import migrations

GROUP = "Creditor users"

# (app label, model, codename, name)
PERMISSIONS = [
    ("wagtailadmin", "admin", "access_admin", "Can access Wagtail admin"),
    ("accounts", "creditor", "creditor_user_role",
     "Is a creditor user (one creditor; only the Creditor users permissions)"),
    ("accounts", "creditor", "view_creditor", "Can view creditor"),
    ("accounts", "debtor", "view_debtor", "Can view debtor"),
    ("accounts", "account", "view_account", "Can view account"),
    ("accounts", "account", "recall_account",
     "Can recall an account (the creditor takes it back)"),
    ("accounts", "payment", "view_payment", "Can view payment"),
    ("accounts", "paymentplan", "view_paymentplan", "Can view payment plan"),
    ("accounts", "activity", "view_activity", "Can view activity"),
    ("messaging", "message", "view_message", "Can view message"),
    ("messaging", "messageevent", "view_messageevent", "Can view message event"),
    ("compliance", "compliancedecision", "view_compliancedecision",
     "Can view compliance decision"),
    ("compliance", "contactattempt", "view_contactattempt", "Can view contact attempt"),
    ("recommender", "decision", "view_decision", "Can view decision"),
    ("recommender", "debtortypology", "view_debtortypology", "Can view debtor typology"),
    ("portal", "portaldispute", "view_portaldispute", "Can view dispute"),
    ("portal", "callbackrequest", "view_callbackrequest", "Can view call-back request"),
    ("portal", "linkrequest", "view_linkrequest", "Can view link request"),
    ("portal", "pauserequest", "view_pauserequest", "Can view pause request"),
    ("portal", "checkout", "view_checkout", "Can view checkout"),
    ("api_keys", "apikey", "view_apikey", "Can view API key"),
    ("api_keys", "apikey", "add_apikey", "Can add API key"),
    ("api_keys", "apikey", "change_apikey", "Can change API key"),
    ("webhooks", "webhookendpoint", "view_webhookendpoint", "Can view webhook endpoint"),
    ("webhooks", "webhookendpoint", "add_webhookendpoint", "Can add webhook endpoint"),
    ("webhooks", "webhookendpoint", "change_webhookendpoint", "Can change webhook endpoint"),
    ("webhooks", "webhookdelivery", "view_webhookdelivery", "Can view webhook delivery"),
    ("webhooks", "webhookevent", "view_webhookevent", "Can view webhook event"),
]


def setup(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    permissions = []
    for app_label, model, codename, name in PERMISSIONS:
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        permissions.append(permission)
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(*permissions)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0007_account_paused_until_index"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        # These give "choose" permissions to every group that may access the admin: they run
        # first, so the new group holds exactly its own list.
        ("wagtaildocs", "0011_add_choose_permissions"),
        ("wagtailimages", "0023_add_choose_permissions"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="account",
            options={
                "permissions": [
                    ("recall_account", "Can recall an account (the creditor takes it back)")
                ]
            },
        ),
        migrations.AlterModelOptions(
            name="creditor",
            options={
                "ordering": ["name"],
                "permissions": [
                    ("view_all_creditors", "Can see every creditor's data (agency staff)"),
                    (
                        "creditor_user_role",
                        "Is a creditor user (one creditor; only the Creditor users "
                        "permissions)",
                    ),
                ],
            },
        ),
        migrations.RunPython(setup, migrations.RunPython.noop),
    ]
