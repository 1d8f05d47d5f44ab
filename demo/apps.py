"""The demo organization: content for trials and screenshots, loaded through the same
services the product uses. It sits on top of every domain app and nothing imports it."""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
