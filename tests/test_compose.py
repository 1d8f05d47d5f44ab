"""docker-compose.yml, the Dockerfile and .env.example, checked without a container engine.

No Docker engine runs on these machines, so the file is proved right in three ways: it
validates against the Compose Specification's JSON schema (tests/data/compose-spec.json,
see tests/data/README.md for where it comes from); semantic checks cover what a schema
cannot (healthchecks, volumes, scaling, variables, the non-root user); and the commands
the healthchecks and the image run are executed here, against a real gunicorn, a real
Celery worker and a private redis-server.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
import pytest
import yaml
from django.conf import settings
from jsonschema import Draft201909Validator

from tests.processes import ROOT, RedisServer, Worker, free_port, wait_for

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
SCHEMA_SHA256 = "56bab44c85c0ce8affb74474950293f37d510673283a243bcd7eeadb900fa35c"
BIN = Path(sys.executable).parent

# Compose's interpolation: $$ is a literal $, then ${VAR}, ${VAR:-default}, ${VAR-default},
# ${VAR:?error}, ${VAR?error} and bare $VAR.
VARIABLE = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)"
)
# Go's time.Duration syntax, which Compose uses for intervals ("1m30s"); the schema only
# says "string".
DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")
APP_SERVICES = ("migrate", "web", "worker", "beat")


def env_example() -> dict[str, str]:
    """Active NAME=value lines of .env.example."""
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def documented_variables() -> set[str]:
    """Every variable .env.example names, set or shown commented with its default."""
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Resolve variables in every string of a loaded compose file, as Compose does."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match["braced"] or match["bare"]
        op, arg, current = match["op"], match["arg"], env.get(name)
        missing = current is None or (current == "" and op and op.startswith(":"))
        if op and op.endswith("?") and missing:
            raise ValueError(f"{name}: {arg}")
        if op and op.endswith("-") and missing:
            return arg
        return current or ""

    return VARIABLE.sub(substitute, value)


def variables_used(value: Any) -> Iterator[tuple[str, bool]]:
    """(name, has a default) for every ${VAR} or $VAR in the file."""
    if isinstance(value, dict):
        for item in value.values():
            yield from variables_used(item)
    elif isinstance(value, list):
        for item in value:
            yield from variables_used(item)
    elif isinstance(value, str):
        for match in VARIABLE.finditer(value):
            if match.group(0) != "$$":
                has_default = bool(match["op"] and match["op"].endswith("-"))
                yield match["braced"] or match["bare"], has_default


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """docker-compose.yml as YAML (anchors and << merges resolved), before interpolation."""
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    """The file as Compose would run it with .env copied from .env.example and its one
    required blank filled in."""
    env = {**env_example(), "POSTGRES_PASSWORD": "a-password-from-the-operator"}
    return interpolate(raw, env)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def validator() -> Draft201909Validator:
    schema = json.loads(SCHEMA.read_text())
    # The file's $schema says draft 2019-09 with a misspelt URI, so name the draft here.
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema)


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def healthcheck_argv(service: dict[str, Any]) -> list[str]:
    """A healthcheck's test as the argv this machine can run (CMD-SHELL through sh)."""
    kind, *rest = service["healthcheck"]["test"]
    if kind == "CMD-SHELL":
        return ["sh", "-c", rest[0]]
    assert kind == "CMD"
    return rest


# --- The schema -----------------------------------------------------------------------


def test_the_vendored_schema_is_the_file_its_readme_names() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_compose_file_is_valid_against_the_compose_specification(
    raw: dict[str, Any], compose: dict[str, Any], validator: Draft201909Validator
) -> None:
    for document in (raw, compose):
        errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]
        assert errors == []


MISSPELLINGS = {
    "healthcheck key": lambda c: c["services"]["web"]["healthcheck"].update(tset=["CMD", "true"]),
    "depends_on condition": lambda c: c["services"]["web"]["depends_on"]["migrate"].update(
        condition="service_done"
    ),
    "service key": lambda c: c["services"]["worker"].update(restart_policy="always"),
    "volume key": lambda c: c["volumes"].update({"postgres-data": {"drvier": "local"}}),
}


@pytest.mark.parametrize("misspell", MISSPELLINGS.values(), ids=MISSPELLINGS.keys())
def test_the_schema_refuses_a_misspelt_key_or_value(
    compose: dict[str, Any], validator: Draft201909Validator, misspell: Any
) -> None:
    """Proof that the validation above has teeth: the schema is strict about keys."""
    broken = json.loads(json.dumps(compose))
    misspell(broken)

    assert list(validator.iter_errors(broken)) != []


# --- What a schema cannot say ------------------------------------------------------------


def test_the_expected_services_are_there(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {"postgres", "redis", "mailpit", *APP_SERVICES}


def test_the_mail_catcher_is_for_development_only(compose: dict[str, Any]) -> None:
    """Mailpit starts only with `--profile dev`, and no app service waits for it, so a
    production `docker compose up` neither runs it nor needs it."""
    assert services(compose)["mailpit"]["profiles"] == ["dev"]
    for name in APP_SERVICES:
        assert "mailpit" not in services(compose)[name].get("depends_on", {}), name
    assert urlsplit(env_example()["EMAIL_URL"]).hostname == "mailpit"


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        check = service.get("healthcheck", {})
        if name == "migrate":
            continue  # the one-shot, below
        assert check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), name
        for key in ("interval", "timeout", "start_period"):
            if key in check:
                assert DURATION.match(check[key]), f"{name}.healthcheck.{key}={check[key]!r}"


def test_migrate_is_a_one_shot_every_app_service_waits_for(compose: dict[str, Any]) -> None:
    migrate = services(compose)["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--no-input"]
    assert migrate["restart"] == "no"
    # Health means nothing for a container that exits; its exit code is what counts.
    assert migrate["healthcheck"] == {"disable": True}
    for name in ("web", "worker", "beat"):
        depends = services(compose)[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name


def test_depends_on_names_only_services_that_exist(compose: dict[str, Any]) -> None:
    names = set(services(compose))
    for name, service in services(compose).items():
        assert set(service.get("depends_on", ())) <= names, name
        assert name not in service.get("depends_on", ()), name


def test_postgres_keeps_its_data_in_a_named_volume(compose: dict[str, Any]) -> None:
    mounts = services(compose)["postgres"]["volumes"]
    named = [m.split(":")[0] for m in mounts if m.endswith(":/var/lib/postgresql/data")]
    assert named, "postgres has no volume on /var/lib/postgresql/data"
    assert not named[0].startswith((".", "/")), "a bind mount, not a named volume"
    assert named[0] in compose["volumes"]


def test_workers_scale_and_beat_does_not(compose: dict[str, Any]) -> None:
    worker = services(compose)["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert f"--queues={settings.CELERY_TASK_DEFAULT_QUEUE}" in worker["command"]
    beat = services(compose)["beat"]
    assert beat["deploy"]["replicas"] == 1
    assert "beat" in beat["command"]
    # Beat's schedule file must be somewhere the non-root user may write.
    assert any(arg.startswith("--schedule=/tmp/") for arg in beat["command"])


def test_app_services_run_the_image_with_settings_from_env_file(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        service = services(compose)[name]
        assert service["env_file"] == ".env", name
        assert service["build"] == ".", name
        assert service["image"] == "touchstone:latest", name
        assert "environment" not in service, f"{name}: settings belong in .env"
    assert "command" not in services(compose)["web"], "web runs the image's gunicorn CMD"


def test_every_variable_used_has_a_default_or_is_in_env_example(raw: dict[str, Any]) -> None:
    documented = documented_variables()
    used = list(variables_used(raw))
    assert used, "the file uses no variables? then this test checks nothing"
    missing = sorted({name for name, default in used if not default and name not in documented})
    assert missing == []


def test_env_example_lists_every_variable_settings_reads() -> None:
    source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r"""\benv(?:_bool|_int|_list)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    read |= set(re.findall(r"""os\.environ(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "LOG_JSON"} <= read
    assert sorted(read - documented_variables()) == []


def test_env_example_refuses_to_start_until_the_secrets_are_filled_in() -> None:
    """Blank, so a copy deployed unedited fails loudly instead of running on a known key."""
    env = env_example()
    assert env["DEBUG"] == "false"
    assert env["SECRET_KEY"] == ""
    assert env["POSTGRES_PASSWORD"] == ""
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
        interpolate(yaml.safe_load(COMPOSE.read_text()), env)


def test_env_example_points_the_app_at_the_compose_services(compose: dict[str, Any]) -> None:
    env = env_example()
    database = dj_database_url.parse(env["DATABASE_URL"])
    assert database["HOST"] == "postgres"
    assert database["USER"] == env["POSTGRES_USER"]
    assert database["PASSWORD"] == env["POSTGRES_PASSWORD"]
    assert database["NAME"] == env["POSTGRES_DB"]
    assert urlsplit(env["REDIS_URL"]).hostname == "redis"
    assert {"postgres", "redis"} <= set(services(compose))


def test_dockerfile_is_slim_runs_as_a_user_and_collects_static_at_build() -> None:
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users, "no USER: the processes would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # The user is switched before the process starts, after the build steps that need root.
    assert keywords.index("CMD") > max(i for i, k in enumerate(keywords) if k == "USER")
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert "manage.py collectstatic" in runs
    assert "pip install /tmp/touchstone " in runs, "installs the runtime pins, not [dev]"
    assert not any(keyword == "ENV" and "SECRET_KEY" in args for keyword, args in instructions)
    assert json.loads(dict(instructions)["CMD"])[0] == "gunicorn"


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".env", ".git", ".venv", "staticfiles"):
        assert entry in ignored


# --- The commands, run for real ------------------------------------------------------------


def run(
    argv: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """A healthcheck or command as the container would run it: `python`, `celery` and
    `gunicorn` are this virtualenv's, the working directory is the project."""
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        argv,
        cwd=ROOT,
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def production_env(**extra: str) -> dict[str, str]:
    """.env.example as an operator fills it in, for processes on this machine."""
    return {
        **env_example(),
        "SECRET_KEY": "test-only-" + "k" * 40,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        **extra,
    }


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """The Dockerfile's CMD (bound to a free port) with DEBUG off, as in production."""
    port = free_port()
    argv = json.loads(dict(dockerfile_instructions())["CMD"])
    argv = [f"127.0.0.1:{port}" if arg == "0.0.0.0:8000" else arg for arg in argv]
    argv += ["--workers", "1"]
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**production_env(), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: _listening(port), timeout=30)
        yield port, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def web_healthcheck(compose: dict[str, Any], port: int) -> list[str]:
    argv = healthcheck_argv(services(compose)["web"])
    return [arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for arg in argv]


@pytest.mark.slow
def test_web_healthcheck_passes_against_gunicorn_with_debug_off(
    compose: dict[str, Any], gunicorn: tuple[int, Path]
) -> None:
    """With DEBUG off Django refuses unknown Host headers and redirects plain HTTP; the
    healthcheck must get a 200 anyway, and gunicorn's access line carries a request id."""
    port, log = gunicorn
    # As Docker runs it: failures inside the start period (the worker still booting
    # Django, seconds on a busy machine) do not count; the first success ends it.
    check = services(compose)["web"]["healthcheck"]
    deadline = time.monotonic() + float(str(check["start_period"]).removesuffix("s"))
    while (result := run(web_healthcheck(compose, port), production_env())).returncode != 0:
        if time.monotonic() > deadline:
            break
        time.sleep(1)

    assert result.returncode == 0, result.stderr
    wait_for(lambda: "/healthz" in log.read_text(), timeout=5)
    line = next(line for line in log.read_text().splitlines() if "/healthz" in line)
    assert '"GET /healthz HTTP/1.1" 200' in line
    assert re.search(r"request_id=[0-9a-f]{32}\b", line), line


def test_web_healthcheck_fails_when_nothing_answers(compose: dict[str, Any]) -> None:
    result = run(web_healthcheck(compose, free_port()), production_env())

    assert result.returncode != 0


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def test_beat_healthcheck_pings_the_broker(
    compose: dict[str, Any], redis_server: RedisServer
) -> None:
    argv = healthcheck_argv(services(compose)["beat"])

    up = run(argv, production_env(REDIS_URL=redis_server.url))
    redis_server.stop()
    down = run(argv, production_env(REDIS_URL=redis_server.url))

    assert up.returncode == 0, up.stderr
    assert down.returncode != 0


@pytest.mark.worker
@pytest.mark.slow
def test_worker_healthcheck_pings_this_worker_only(
    compose: dict[str, Any], transactional_db: None, redis_server: RedisServer
) -> None:
    """In a container HOSTNAME is the container's name and the worker's node is
    celery@HOSTNAME; here the worker runs on this host, under the same name."""
    worker = Worker(redis_server.url)
    worker.start()
    try:
        argv = healthcheck_argv(services(compose)["worker"])
        env = production_env(REDIS_URL=redis_server.url)

        this = run(argv, {**env, "HOSTNAME": socket.gethostname()})
        other = run(argv, {**env, "HOSTNAME": "another-container"})
    finally:
        worker.stop()

    assert this.returncode == 0, this.stdout + this.stderr
    assert "pong" in this.stdout
    assert other.returncode != 0
