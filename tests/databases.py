"""Test databases for parallel runs: migrate once, copy per process.

Under pytest-xdist every worker process used to create its test database by running every
migration (pytest-django's default): the same few seconds of CPU in each process, plus
PostgreSQL's. Here the controlling process migrates one database (`test_<name>`) before the
workers start and gives each worker a copy of it (`CREATE DATABASE test_<name>_gw0 TEMPLATE
test_<name>`, what Django's own parallel runner does); each worker drops its copy at the
end, the controller the template. A run without xdist (or with -n 0) gets pytest-django's
usual database. Nothing is kept between runs: a fresh machine and a changed migration
behave the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from pytest_django.fixtures import _disable_migrations, _get_databases_for_setup
from pytest_django.plugin import blocking_manager_key

WORKER_DATABASE = "touchstone_test_database"  # key in xdist's workerinput
_TEMPLATE = pytest.StashKey[str]()


def _point_at(name: str) -> None:
    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name
    connection.close()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """(xdist controller, before each worker starts) The template on the first call; then
    this worker's copy of it, named in its workerinput."""
    config = node.config
    with config.stash[blocking_manager_key].unblock():
        if _TEMPLATE not in config.stash:
            original = connection.settings_dict["NAME"]
            config.stash[_TEMPLATE] = original
            connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        connection.close()  # PostgreSQL copies a template nobody is connected to
        suffix = node.gateway.id
        connection.creation.clone_test_db(suffix=suffix, verbosity=0, autoclobber=True)
        copy = connection.creation.get_test_db_clone_settings(suffix)
        node.workerinput[WORKER_DATABASE] = copy["NAME"]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """(xdist controller) Drop the template once the workers are done."""
    config = session.config
    if hasattr(config, "workerinput") or _TEMPLATE not in config.stash:
        return
    template = connection.settings_dict["NAME"]
    with config.stash[blocking_manager_key].unblock():
        connection.close()
        with connection.creation._nodb_cursor() as cursor:
            # IF EXISTS: a run without xdist on the same DATABASE_URL (which COMMON.md
            # forbids) uses this name too, and drops it when it ends.
            cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(template)}")
    _point_at(config.stash[_TEMPLATE])


@pytest.fixture(scope="session")
def django_db_setup(
    request: pytest.FixtureRequest,
    django_test_environment: None,
    django_db_blocker: Any,
    django_db_use_migrations: bool,
    django_db_keepdb: bool,
    django_db_createdb: bool,
    django_db_modify_db_settings: None,
) -> Iterator[None]:
    """A worker's copy of the controller's migrated template; otherwise pytest-django's own
    set-up (its code, unchanged: migrations, --reuse-db, --create-db, --nomigrations)."""
    copy = getattr(request.config, "workerinput", {}).get(WORKER_DATABASE)
    if copy is not None:
        original = settings.DATABASES["default"]["NAME"]
        _point_at(copy)
        yield
        with django_db_blocker.unblock():
            connection.creation.destroy_test_db(original, verbosity=0)
        return

    from django.test.utils import setup_databases, teardown_databases

    if not django_db_use_migrations:
        _disable_migrations()
    keepdb = django_db_keepdb and not django_db_createdb
    aliases, serialized_aliases = _get_databases_for_setup(request.session.items)
    verbosity = request.config.option.verbose
    with django_db_blocker.unblock():
        db_cfg = setup_databases(
            verbosity=verbosity,
            interactive=False,
            aliases=aliases,
            serialized_aliases=serialized_aliases,
            keepdb=keepdb,
        )
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            teardown_databases(db_cfg, verbosity=verbosity)
