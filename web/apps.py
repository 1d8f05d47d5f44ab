from django.apps import AppConfig


class WebConfig(AppConfig):
    """The browser: server-rendered pages progressively enhanced with htmx."""

    name = "web"
    verbose_name = "Browser pages"
