#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1; start this machine's own if not.
# Used by `make run`, `make test` and .ci/run. Says exactly what to install when it cannot.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    echo "PostgreSQL is not running and not installed. Install it with:" >&2
    echo "  sudo apt-get install -y postgresql   (then allow trust auth for 127.0.0.1, user postgres)" >&2
    exit 1
  fi
  echo "Starting PostgreSQL..."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
  pg_up || { echo "PostgreSQL did not come up on 127.0.0.1:5432." >&2; exit 1; }
fi

if ! redis_up; then
  if ! command -v redis-server >/dev/null; then
    echo "Redis is not running and not installed. Install it with:" >&2
    echo "  sudo apt-get install -y redis-server" >&2
    exit 1
  fi
  echo "Starting Redis..."
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis_up && break; sleep 0.2; done
  redis_up || { echo "Redis did not come up on 127.0.0.1:6379." >&2; exit 1; }
fi
