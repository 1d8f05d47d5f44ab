#!/usr/bin/env bash
# Start the web server, a Celery worker and Celery beat together, and keep them running:
# one that exits is started again (with a message, after a growing pause), as a
# production supervisor would. Only Ctrl-C (or closing the terminal) stops all three.
set -uo pipefail
PORT="${PORT:-8000}"
PY=.venv/bin/python
# Restart pauses double from RESTART_DELAY up to RESTART_DELAY_MAX seconds, and start from
# the bottom again once a process has stayed up for a minute.
RESTART_DELAY="${RESTART_DELAY:-1}"
RESTART_DELAY_MAX="${RESTART_DELAY_MAX:-30}"
RUN_DIR="$(mktemp -d -t touchstone-run-XXXXXX)"
supervisors=()

say() { echo "run-all: $*" >&2; }

# supervise NAME COMMAND...: run COMMAND, and again whenever it exits, until told to stop.
# The current child's PID is kept in $RUN_DIR/NAME.pid (stop_all asks it to stop too).
supervise() {
  local name="$1"; shift
  local delay="$RESTART_DELAY" child=0 started status
  trap '[ "$child" -gt 0 ] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM
  while [ ! -e "$RUN_DIR/stop" ]; do
    started=$SECONDS
    "$@" &
    child=$!
    echo "$child" >"$RUN_DIR/$name.pid"
    say "$name started (pid $child)"
    wait "$child"
    status=$?
    [ -e "$RUN_DIR/stop" ] && break
    [ $((SECONDS - started)) -ge 60 ] && delay="$RESTART_DELAY"
    say "$name exited (status $status); restarting it in ${delay} s"
    sleep "$delay" & wait $!
    delay=$((delay * 2 > RESTART_DELAY_MAX ? RESTART_DELAY_MAX : delay * 2))
  done
}

children() { cat "$RUN_DIR"/*.pid 2>/dev/null; }

stop_all() {
  trap - INT TERM HUP EXIT
  touch "$RUN_DIR/stop"
  echo; say "stopping web, worker and beat..."
  kill -TERM "${supervisors[@]}" 2>/dev/null
  # A Celery worker that was restarting (it restarts on SIGHUP) can miss one TERM:
  # ask again for up to 10 s, then stop whatever is left for good.
  for _ in $(seq 20); do
    alive=0
    for pid in "${supervisors[@]}" $(children); do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
    # shellcheck disable=SC2046  # one PID per word
    kill -TERM $(children) 2>/dev/null
  done
  # shellcheck disable=SC2046
  kill -KILL "${supervisors[@]}" $(children) 2>/dev/null
  for pid in $(children); do pkill -KILL -P "$pid" 2>/dev/null; done
  rm -rf "$RUN_DIR"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all; exit 129' HUP
trap stop_all EXIT

if (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null; then
  echo "Port ${PORT} is already in use: stop what holds it, or run with PORT=<another port>." >&2
  exit 1
fi

supervise web $PY manage.py runserver "127.0.0.1:${PORT}" &
supervisors+=($!)
# Without gossip and mingle: a broker restart must not end the worker (see README).
supervise worker .venv/bin/celery -A config worker --loglevel INFO --concurrency 2 -Q scoring \
  --without-gossip --without-mingle &
supervisors+=($!)
# The schedule file belongs to this checkout, so two checkouts never share one.
supervise beat .venv/bin/celery -A config beat --loglevel INFO \
  --schedule "${BEAT_SCHEDULE:-.celerybeat-schedule}" &
supervisors+=($!)

# Say "running" only once the web server answers.
for _ in $(seq 120); do
  (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null && break
  sleep 0.5
done
cat <<MSG

  Touchstone is running at http://127.0.0.1:${PORT}/
  Demo sign-ins (password: ${DEMO_PASSWORD:-touchstone-demo}):
    manager@demo.touchstone.test    (manager)
    ana@demo.touchstone.test        (evaluator)
    ben@demo.touchstone.test        (evaluator)
    viewer@demo.touchstone.test     (viewer)
  API docs: http://127.0.0.1:${PORT}/api/v1/docs/
  Admin: http://127.0.0.1:${PORT}/admin/ (sign in as the manager, who is staff)
  A worker, beat or web server that exits is started again. Ctrl-C stops all three.

MSG
# Only a signal ends this script (stop_all); the supervisors never return by themselves.
while :; do sleep 1 & wait $!; done
