"""The team: members of an organization, invitations by email, roles and removal."""

from django.apps import AppConfig


class TeamConfig(AppConfig):
    name = "team"
