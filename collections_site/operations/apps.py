from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "collections_site.operations"
    label = "operations"
    verbose_name = "Operations"
