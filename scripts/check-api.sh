#!/usr/bin/env bash
# The API as an outside integrator tries it (issue 19, docs/reliability.md S12b): a database
# of its own with the demo loaded, a manager's token, gunicorn on a free loopback port, and
# schemathesis with every check and every phase within a time budget. Stops all it started
# and drops its database on the way out, whatever happens.
#   scripts/check-api.sh            (make check-api)
#   CHECK_API_SECONDS=300 CHECK_API_WORKERS=10 scripts/check-api.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
SECONDS_BUDGET=${CHECK_API_SECONDS:-300}
WORKERS=${CHECK_API_WORKERS:-10}
# Named after the caller's database (DATABASE_URL) and this run's PID: runs started by
# different people, or twice by one, never share a database.
BASE_DB=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/touchstone}
BASE_DB=${BASE_DB##*/}
BASE_DB=${BASE_DB%%\?*}
DB="${BASE_DB:-touchstone}_check_api_$$"
WORK=$(mktemp -d)
GUNICORN_PID=""

cleanup() {
  if [ -n "$GUNICORN_PID" ] && kill -0 "$GUNICORN_PID" 2>/dev/null; then
    kill "$GUNICORN_PID"
    wait "$GUNICORN_PID" 2>/dev/null || true
  fi
  dropdb -h 127.0.0.1 -U postgres --if-exists "$DB" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export DEBUG=true DATABASE_CONN_MAX_AGE=0
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
export REDIS_URL=${CHECK_API_REDIS_URL:-${REDIS_URL:-redis://127.0.0.1:6379/0}}

createdb -h 127.0.0.1 -U postgres "$DB"
$PY manage.py migrate --no-input -v 0
$PY manage.py load_demo >/dev/null
# schemathesis.toml plus the demo's ids as dictionaries (scripts/check_api_data.py): drawn
# ids name nothing, so without them every detail operation is a 404 ("missing test data").
# It also seeds what the demo lacks and makes the manager the run acts as.
RUNNER=check-api@demo.touchstone.test
cp schemathesis.toml "$WORK/schemathesis.toml"
$PY scripts/check_api_data.py manager@demo.touchstone.test "$RUNNER" >>"$WORK/schemathesis.toml"
TOKEN=$($PY manage.py create_token "$RUNNER" --name check-api \
  | grep -o 'tst_[A-Za-z0-9_-]*' | head -n1)
[ -n "$TOKEN" ] || { echo "check-api: no token was made" >&2; exit 1; }

PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The server under test counts failed token checks (30/min per address, tests/api/
# test_auth_throttle.py proves it) and writes (600/min): a fuzzer's invalid-credential
# checks are a guesser by construction, and with them throttled every later check of that
# address would see 429, not the logic it tests. So this server's limits are out of reach.
AUTH_FAILURE_RATE=1000000/min API_WRITE_RATE=1000000/min API_EVALUATION_RATE=1000000/min \
  .venv/bin/gunicorn config.wsgi -b "127.0.0.1:$PORT" --workers 2 --timeout 60 \
  >"$WORK/gunicorn.log" 2>&1 &
GUNICORN_PID=$!
for _ in $(seq 1 120); do
  curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
  kill -0 "$GUNICORN_PID" 2>/dev/null || { cat "$WORK/gunicorn.log" >&2; exit 1; }
  sleep 0.5
done

# The schema is fetched first: generating it live can exceed schemathesis' load timeout on
# a busy machine, and a file is what an integrator would download anyway.
curl -fs --max-time 120 -o "$WORK/schema.json" "http://127.0.0.1:$PORT/api/v1/schema/?format=json"

# schemathesis.toml (repository root) holds only what the schema cannot state.
timeout $((SECONDS_BUDGET + 120)) .venv/bin/schemathesis --config-file "$WORK/schemathesis.toml" \
  run "$WORK/schema.json" \
  -u "http://127.0.0.1:$PORT" -H "Authorization: Bearer $TOKEN" \
  --checks all --phases examples,coverage,fuzzing,stateful -n "$WORKERS" \
  --max-time "$SECONDS_BUDGET" --request-timeout 20 --generation-deterministic
