from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"

    def ready(self) -> None:
        from scoring import receivers
        from touchpoints import hooks

        # A submission's rollups and stale marks, in its transaction (touchpoints.hooks).
        hooks.on_evaluations_stored("scoring", receivers.evaluations_stored)
