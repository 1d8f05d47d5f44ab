from django.apps import AppConfig


class TouchpointsConfig(AppConfig):
    name = "touchpoints"
    verbose_name = "Touch points and evaluations"
