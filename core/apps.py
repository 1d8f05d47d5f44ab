"""The shared core every domain app builds on: text and id validation, the ordered-item
lifecycle with the one "map changed" hook, the API's base classes, CSV cell escaping and
broker access. It imports no domain app; the domain apps import it."""

from django.apps import AppConfig
from django.core.checks import Tags, register

from core import ids  # noqa: F401  (registers the `<id:...>` path converter before any URLconf is read)
from core.checks import check_proxy_trust, check_utc_and_broker


class CoreConfig(AppConfig):
    name = "core"

    def ready(self) -> None:
        register(check_utc_and_broker, Tags.compatibility)
        register(check_proxy_trust, Tags.security)
