"""Settings come from the environment and fail loudly: with DEBUG off a missing or weak
SECRET_KEY stops start-up with a clear message, and the production shape passes
`manage.py check --deploy` without a single warning.

Each case starts a fresh interpreter, since settings are read once per process.
"""

from __future__ import annotations

import os
import string
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils.crypto import get_random_string

BASE_DIR = Path(__file__).resolve().parent.parent
SETUP = "import django; django.setup()"
# What a deployment sets; each test takes some away or changes them.
CONFIG_NAMES = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_URL")


def run(args: list[str], **config: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_NAMES}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    # A deployment sets a mail server (invitations and password reset need one).
    env["EMAIL_URL"] = "smtp://mail.example.com:587/?tls=true"
    env.update(config)
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def start(**config: str) -> subprocess.CompletedProcess[str]:
    return run(["-c", SETUP], **config)


def a_secret_key(length: int = 50) -> str:
    return get_random_string(length, string.ascii_letters + string.digits + "!@#%^&*(-_=+)")


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"DEBUG": "false"}, id="DEBUG=false, no SECRET_KEY"),
        pytest.param({}, id="DEBUG unset, no SECRET_KEY"),
        pytest.param({"DEBUG": "0", "SECRET_KEY": ""}, id="empty SECRET_KEY"),
        pytest.param({"DEBUG": "off", "SECRET_KEY": "x" * 31}, id="31 characters"),
    ],
)
def test_production_refuses_to_start_without_a_real_secret_key(config: dict[str, str]) -> None:
    result = start(**config)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_starts_with_a_long_secret_key() -> None:
    result = start(DEBUG="false", SECRET_KEY=a_secret_key(), ALLOWED_HOSTS="example.com")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("debug", ["true", "1", "yes", "on", "TRUE"])
def test_development_starts_without_a_secret_key(debug: str) -> None:
    result = start(DEBUG=debug)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("debug", ["maybe", "2", "tru"])
def test_a_debug_value_that_is_not_true_or_false_is_refused_clearly(debug: str) -> None:
    result = start(DEBUG=debug, SECRET_KEY=a_secret_key())

    assert result.returncode != 0
    assert f"DEBUG must be true or false, not {debug!r}" in result.stderr


def test_a_whole_number_setting_that_is_not_one_is_refused_clearly() -> None:
    result = start(DEBUG="true", DATABASE_CONN_MAX_AGE="a minute")

    assert result.returncode != 0
    assert "DATABASE_CONN_MAX_AGE must be a whole number" in result.stderr


def test_the_production_shape_passes_check_deploy_without_warnings() -> None:
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="false",
        SECRET_KEY=a_secret_key(50),
        ALLOWED_HOSTS="example.com",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("config", "warning"),
    [
        pytest.param(
            {"SECRET_KEY": "a" * 50, "ALLOWED_HOSTS": "example.com"},
            "security.W009",
            id="a long but guessable key",
        ),
        pytest.param({"SECRET_KEY": a_secret_key(50)}, "security.W020", id="no ALLOWED_HOSTS"),
    ],
)
def test_check_deploy_catches_what_the_start_up_guard_lets_through(
    config: dict[str, str], warning: str
) -> None:
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], DEBUG="false", **config
    )

    assert result.returncode != 0
    assert warning in result.stdout + result.stderr
