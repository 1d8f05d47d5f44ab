from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Events, notifications, webhooks and actions: the loop after the scores."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "alerts"
