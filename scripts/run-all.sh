#!/usr/bin/env bash
# Start the web server, a Celery worker and Celery beat together; Ctrl-C stops all three.
set -uo pipefail
PORT="${PORT:-8000}"
PY=.venv/bin/python
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "Stopping web, worker and beat..."
  kill "${pids[@]}" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup INT TERM EXIT

$PY manage.py runserver "127.0.0.1:${PORT}" &
pids+=($!)
.venv/bin/celery -A config worker --loglevel INFO --concurrency 2 -Q scoring &
pids+=($!)
.venv/bin/celery -A config beat --loglevel INFO --schedule "${TMPDIR:-/tmp}/touchstone-celerybeat-schedule" &
pids+=($!)

sleep 2
cat <<MSG

  Touchstone is running at http://127.0.0.1:${PORT}/
  Demo sign-ins (password: ${DEMO_PASSWORD:-touchstone-demo}):
    manager@demo.touchstone.test    (manager)
    ana@demo.touchstone.test        (evaluator)
    ben@demo.touchstone.test        (evaluator)
    viewer@demo.touchstone.test     (viewer)
  Admin: http://127.0.0.1:${PORT}/admin/ (sign in as the manager, who is staff)
  Ctrl-C stops the web server, the worker and beat.

MSG
# Exit (and stop the rest) as soon as any of the three dies.
wait -n
