from django.apps import AppConfig


class DemoHistoryConfig(AppConfig):
    name = "collections_site.demo_history"
    label = "demo_history"
    verbose_name = "Demo history"
    default_auto_field = "django.db.models.BigAutoField"
