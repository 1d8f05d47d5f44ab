from django.apps import AppConfig


class TouchpointsConfig(AppConfig):
    name = "touchpoints"
    verbose_name = "Touch points and evaluations"

    def ready(self) -> None:
        from touchpoints import hooks

        # Journeys archive, rather than delete, what evaluations depend on (journeys.in_use).
        hooks.register_in_use_checks()
