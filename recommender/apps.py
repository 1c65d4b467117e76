from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    """Learns which variant, channel and send time works for which debtor."""

    name = "recommender"
    verbose_name = "Recommender"
