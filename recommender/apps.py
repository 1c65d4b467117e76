from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    """Learns which variant, channel and send time works for which debtor."""

    name = "recommender"
    verbose_name = "Recommender"

    def ready(self) -> None:
        from recommender import checks  # noqa: F401  (registers the system checks)
