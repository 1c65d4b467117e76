from django.apps import AppConfig


class QueuesConfig(AppConfig):
    name = "collections_site.queues"
    label = "queues"
    verbose_name = "Work queues"
