"""Every worker runs without gossip and mingle (issue 20): the app switches both off
whatever the command line says (config/celery.py), and every place that starts a worker
(make run, compose, the README's and docs' production commands, the tests' and benches'
workers) passes the same flags, so a reader of any command sees how it runs."""

from __future__ import annotations

import ast
import itertools
import re
import subprocess
from pathlib import Path

import pytest
import redis
import yaml

from config.celery import WORKER_FLAGS
from scoring.heartbeat import HEARTBEAT_KEY
from tests.processes import RedisServer, Worker, wait_for

ROOT = Path(__file__).resolve().parents[1]
# `celery -A config worker` / `celery --app=config worker`, in a shell line or a Markdown
# code span; argv lists in Python and YAML are found by their elements instead.
SHELL_WORKER = re.compile(r"celery\s+(?:-A\s*|--app[ =])config\s+worker\b")
# Files that start workers today: the scan below must find each of them, so it cannot
# pass by finding nothing.
KNOWN_START_PATHS = {
    "scripts/run-all.sh",
    "docker-compose.yml",
    "README.md",
    "docs/scaling.md",
    "tests/processes.py",
    "bench/scoring_bench.py",
}


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / name for name in out.split() if (ROOT / name).is_file()]


def shell_commands(text: str) -> list[str]:
    """Each worker command in shell or Markdown text: its code span (which may wrap),
    or else its whole line, with backslash continuations joined."""
    text = text.replace("\\\n", " ")
    commands = []
    for match in SHELL_WORKER.finditer(text):
        paragraph_start = text.rfind("\n\n", 0, match.start()) + 1
        rest = text[match.start() :]
        if text[paragraph_start : match.start()].count("`") % 2 == 1:
            command = rest.split("`", 1)[0]  # a Markdown code span, maybe wrapped
        else:
            command = rest.split("\n", 1)[0]
        commands.append(command.replace("\n", " "))
    return commands


def compose_commands(text: str) -> list[str]:
    services = (yaml.safe_load(text) or {}).get("services", {})
    commands = []
    for service in services.values():
        command = service.get("command") or []
        argv = command.split() if isinstance(command, str) else [str(a) for a in command]
        if "worker" in argv and any("celery" in a for a in argv):
            commands.append(" ".join(argv))
    return commands


def python_commands(text: str) -> list[str]:
    """Argv lists holding "config" then "worker": the module must pass the flags (as
    literals or through WORKER_FLAGS)."""
    commands = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.List):
            strings = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            pairs = itertools.pairwise(strings)
            if ("config", "worker") in pairs:
                through_constant = " ".join(WORKER_FLAGS) if "WORKER_FLAGS" in text else ""
                commands.append(f"{ast.unparse(node)} {through_constant}")
    return commands


def worker_commands() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in tracked_files():
        name = str(path.relative_to(ROOT))
        if path.suffix in {".yml", ".yaml"} and "compose" in path.name:
            commands = compose_commands(path.read_text())
        elif path.suffix == ".py":
            commands = python_commands(path.read_text())
        elif path.suffix in {".sh", ".md", ".service"} or path.name in {"Makefile", "Dockerfile"}:
            commands = shell_commands(path.read_text())
        else:
            continue
        if commands:
            found[name] = commands
    return found


def test_every_start_path_passes_the_worker_flags() -> None:
    found = worker_commands()

    assert set(found) >= KNOWN_START_PATHS, f"the scan missed {KNOWN_START_PATHS - set(found)}"
    lacking = [
        f"{name}: {command.strip()[:120]}"
        for name, commands in found.items()
        for command in commands
        if not all(flag in command for flag in WORKER_FLAGS)
    ]
    assert lacking == []


def test_the_scan_finds_a_worker_command_that_lacks_the_flags() -> None:
    assert shell_commands("run `celery -A config worker -Q scoring` in production")
    (wrapped,) = shell_commands("run `celery -A config worker\n--without-gossip` here")
    assert wrapped == "celery -A config worker --without-gossip"
    (continued,) = shell_commands("celery --app=config worker \\\n  -Q scoring")
    assert continued.split() == ["celery", "--app=config", "worker", "-Q", "scoring"]
    assert python_commands('argv = [celery, "-A", "config", "worker", "-Q", "scoring"]')
    assert compose_commands("services:\n  w:\n    command: celery --app=config worker\n")


@pytest.mark.worker
def test_a_worker_started_without_the_flags_still_runs_without_gossip_and_mingle(
    transactional_db: None, broker: RedisServer
) -> None:
    worker = Worker(broker.url, flags=())
    worker.start()
    try:
        client = redis.Redis.from_url(broker.url)
        # The heartbeat /readyz reads still arrives (it is not switched off with them).
        wait_for(lambda: client.get(HEARTBEAT_KEY), timeout=30)
        gossip_bindings = [
            b for b in client.smembers("_kombu.binding.celeryev") if b.startswith(b"worker.#")
        ]
        remote_control = client.exists("_kombu.binding.celery.pidbox")
    finally:
        worker.stop()

    assert "mingle" not in worker.log()
    assert gossip_bindings == []  # gossip would consume worker.# events from celeryev
    assert remote_control  # `celery inspect ping` (compose's healthcheck) still answers
