"""Management command arguments pass the text gate (issue 12, item 2): bytes that are not
UTF-8 reach Python from the shell as lone surrogates (surrogateescape) and failed at the
database; every text argument of every project command is now a `core.text.text_argument`.
Discovered from the commands themselves, so a new argument is covered automatically."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command, get_commands, load_command_class

from accounts.models import Organization
from tests.conftest import Personas

PROJECT_APPS = {"accounts", "core", "journeys", "touchpoints", "scoring", "web", "demo"}
PROJECT_APPS |= {a for a in settings.INSTALLED_APPS if (settings.BASE_DIR / a).is_dir()}


def project_commands() -> list[tuple[str, str]]:
    return sorted((n, app) for n, app in get_commands().items() if app in PROJECT_APPS)


def text_actions(name: str, app: str) -> list[argparse.Action]:
    parser = load_command_class(app, name).create_parser("manage.py", name)
    own = [a for a in parser._actions if a.dest not in DJANGO_OPTIONS]
    return [
        a
        for a in own
        if (a.nargs != 0 and a.choices is None and a.type in (None, str)) or _is_gate(a)
    ]


def _is_gate(action: argparse.Action) -> bool:
    return getattr(action.type, "__name__", "") == "text"


DJANGO_OPTIONS = {
    "help", "version", "verbosity", "settings", "pythonpath", "traceback", "no_color",
    "force_color", "skip_checks",
}  # fmt: skip


@pytest.mark.parametrize(("name", "app"), project_commands())
def test_every_text_argument_passes_the_gate(name: str, app: str) -> None:
    for action in text_actions(name, app):
        assert _is_gate(action), f"{name} {action.option_strings or action.dest}: use text_argument"


def test_a_lone_surrogate_argument_is_a_clear_error(personas: Personas) -> None:
    with pytest.raises(CommandError, match="lone surrogate"):
        call_command("bootstrap_organization", "Acme \udcff Ltd", "--manager", "a@b.test")
    with pytest.raises(CommandError, match="NUL"):
        call_command("create_token", personas.manager.email, "--name", "x\x00y")
    assert not Organization.objects.filter(name__startswith="Acme").exists()


def test_the_file_argument_is_a_path(tmp_path: Path) -> None:
    assert (
        load_command_class("touchpoints", "import_evaluations")
        .create_parser("manage.py", "import_evaluations")
        ._actions
    )
