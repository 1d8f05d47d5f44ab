"""Outgoing email: one service other apps call (notify.services.send_email), an outbox
table that is the record of every message, and a Celery task that delivers it."""

from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "notify"
    verbose_name = "Email"
