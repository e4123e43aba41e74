# smsbot in a container.
#
#   docker build -t smsbot .
#   docker run -d --name smsbot --env-file .env -p 3000:3000 -v smsbot-data:/data \
#       --stop-timeout 15 smsbot
#
# Configuration comes from the environment (--env-file); see .env.example. --env-file keeps
# quotes as part of a value (smsbot refuses such a value and says so): write KEY=value. The
# SQLite database (with its -wal and -shm files) lives on the /data volume; do not set
# SMSBOT_DB or SMSBOT_HOST in the --env-file (a path outside /data is lost with the container,
# and the start-up summary warns about it). /etc/smsbot-image tells smsbot which volume that is. smsbot exits within
# 10 s of SIGTERM; --stop-timeout 15 (compose: stop_grace_period: 15s) keeps docker from
# sending SIGKILL before that. With a bind mount instead of a named volume, make the host
# directory writable by uid 10001.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 smsbot \
    && useradd --system --uid 10001 --gid smsbot --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin smsbot \
    && install -d -o smsbot -g smsbot -m 0750 /app /data

# Dependencies exactly as locked (versions and hashes; regenerate with pip-compile, see README),
# and the build backend as locked (build-requirements.lock), in their own layer so a code change
# does not reinstall them. Then smsbot itself, built with that backend (no build isolation: pip
# downloads nothing more) and without resolving anything again. README.md is the package's long
# description; no test extras.
COPY requirements.lock build-requirements.lock /tmp/smsbot/
RUN pip install --require-hashes -r /tmp/smsbot/requirements.lock \
    && pip install --require-hashes -r /tmp/smsbot/build-requirements.lock
COPY pyproject.toml README.md /tmp/smsbot/
COPY bot /tmp/smsbot/bot
RUN pip install --no-build-isolation --no-deps /tmp/smsbot && rm -rf /tmp/smsbot \
    && echo /data > /etc/smsbot-image

ENV SMSBOT_DB=/data/smsbot.db \
    SMSBOT_HOST=0.0.0.0 \
    SMSBOT_PORT=3000
VOLUME /data
EXPOSE 3000

WORKDIR /app
USER smsbot

# 200 from /healthz: the database answers and the sender thread is alive (503 raises here).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SMSBOT_PORT', '3000'), timeout=4)"]

# Exec form: smsbot is PID 1 and receives docker stop's SIGTERM itself.
STOPSIGNAL SIGTERM
CMD ["smsbot", "run"]
