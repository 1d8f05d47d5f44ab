#!/usr/bin/env bash
# Start the web server, a Celery worker and Celery beat together; Ctrl-C (or closing the
# terminal) stops all three.
set -uo pipefail
PORT="${PORT:-8000}"
PY=.venv/bin/python
pids=()

stop_all() {
  trap - INT TERM HUP EXIT
  echo; echo "Stopping web, worker and beat..."
  kill -TERM "${pids[@]}" 2>/dev/null
  # A Celery worker that was restarting (it restarts on SIGHUP) can miss one TERM:
  # ask again for up to 10 s, then stop whatever is left for good.
  for _ in $(seq 20); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return
    sleep 0.5
    kill -TERM "${pids[@]}" 2>/dev/null
  done
  kill -KILL "${pids[@]}" 2>/dev/null
  pkill -KILL -P "$(printf '%s,' "${pids[@]}" | sed 's/,$//')" 2>/dev/null
}
trap stop_all INT TERM HUP EXIT

if (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null; then
  echo "Port ${PORT} is already in use: stop what holds it, or run with PORT=<another port>." >&2
  exit 1
fi

$PY manage.py runserver "127.0.0.1:${PORT}" &
pids+=($!)
.venv/bin/celery -A config worker --loglevel INFO --concurrency 2 -Q scoring --without-gossip --without-mingle &
pids+=($!)
# The schedule file belongs to this checkout, so two checkouts never share one.
.venv/bin/celery -A config beat --loglevel INFO --schedule ".celerybeat-schedule" &
pids+=($!)

# Say "running" only once the web server answers.
for _ in $(seq 60); do
  (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "The web server did not start." >&2; exit 1; }
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
  Ctrl-C stops the web server, the worker and beat.

MSG
# Exit (and stop the rest) as soon as any of the three dies.
wait -n
