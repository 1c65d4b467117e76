from django.apps import AppConfig


class CaseworkConfig(AppConfig):
    name = "collections_site.casework"
    label = "casework"
    verbose_name = "Casework"
