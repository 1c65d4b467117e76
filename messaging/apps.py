from django.apps import AppConfig


class MessagingConfig(AppConfig):
    """Message library, outbox, channel backends and tracking: the only way out."""

    name = "messaging"
    verbose_name = "Messaging"
