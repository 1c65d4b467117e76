from django.apps import AppConfig


class MessagingConfig(AppConfig):
    """Message library, outbox, channel backends and tracking: the only way out."""

    name = "messaging"
    verbose_name = "Messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported once the app registry is ready: the checks and the receiver use the models.
        from anymail.signals import tracking

        from messaging import checks  # noqa: F401 (registers the system checks)
        from messaging.receivers import anymail_tracking

        tracking.connect(anymail_tracking, dispatch_uid="messaging.anymail_tracking")
