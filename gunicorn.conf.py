"""gunicorn's settings wherever it serves Touchstone: gunicorn reads ./gunicorn.conf.py from
its working directory, so the image (Dockerfile), a systemd unit started in the checkout and
the HTTP benchmarks (bench/harness.py) all run this shape, the one the README's figures are
measured in. Command-line flags still win.

gthread: each worker process serves GUNICORN_THREADS requests at once. With sync workers a
process serves one request at a time, so two processes would serve two, and a page waiting
on PostgreSQL would hold a whole process (the feedback and load benches' clients queue).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
graceful_timeout = 30
