# Touchstone's one image: the web app (gunicorn, the default command), the Celery worker,
# Celery beat and the one-shot migrate all run from it; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user with no login shell and no home of its own to write to.
RUN groupadd --system --gid 10001 touchstone \
    && useradd --system --uid 10001 --gid touchstone --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin touchstone

WORKDIR /app

# WeasyPrint (the journey report's PDF) draws text with pango, harfbuzz and fontconfig.
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
       libharfbuzz0b libfontconfig1 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, from pyproject.toml alone (the runtime set, not the dev extras), so
# this layer is rebuilt only when the pins change. psycopg[binary] ships libpq in its wheel.
COPY pyproject.toml /tmp/touchstone/pyproject.toml
RUN pip install /tmp/touchstone && rm -rf /tmp/touchstone

COPY . /app

# Hashed, compressed static files, baked into the image for WhiteNoise. Settings refuse to
# load without a secret (and EMAIL_URL) when DEBUG is off, so the build uses throwaway ones
# that exist only in this RUN step: it is not in the image's environment and is never served.
RUN DEBUG=false \
    SECRET_KEY=build-only-collectstatic-key-not-a-secret-0123456789 \
    EMAIL_URL=console:// \
    python manage.py collectstatic --no-input --verbosity 0

USER touchstone:touchstone

EXPOSE 8000

# gunicorn.conf.py (copied with the app): WEB_CONCURRENCY gthread workers of GUNICORN_THREADS
# threads, the shape the benchmarks measure; the flags below win over it. The access log carries the
# request id the app returns, so a proxy's log line meets the app's JSON logs.
CMD ["gunicorn", "config.wsgi:application", \
     "--bind", "0.0.0.0:8000", \
     "--timeout", "60", \
     "--graceful-timeout", "30", \
     "--access-logfile", "-", \
     "--access-logformat", "%(h)s \"%(r)s\" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s"]
