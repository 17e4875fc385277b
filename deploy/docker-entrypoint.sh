#!/bin/sh
# Entrypoint of the Kefu image. The first argument picks the process role:
#   web          daphne serving kefu.asgi:application (HTTP + WebSocket) on 0.0.0.0:$PORT
#   web-uvicorn  the same application under uvicorn (alternative ASGI server)
#   worker       Celery worker consuming the queue $CELERY_QUEUE (default "kefu")
#   beat         Celery beat scheduler (run exactly one)
#   migrate      one-off job: apply database migrations, then exit
#   manage ...   any other manage.py command, e.g. `manage createsuperuser`
# Anything else is executed as given (e.g. `sh` for debugging).
#
# Variables read here (everything else is read by kefu/settings.py):
#   PORT                 web listen port (default 8000)
#   WORKER_CONCURRENCY   Celery worker threads per process (default 200; bot turns are I/O bound)
#   UVICORN_WORKERS      uvicorn worker processes for web-uvicorn (default 1)
#
# The ASGI servers run WITHOUT proxy-header rewriting on purpose: the application reads
# X-Forwarded-For itself, from the right, and only when the peer is listed in
# KEFU_TRUSTED_PROXIES (kefu/ratelimit.py). Letting daphne take the left-most address
# would let a client pick its own rate-limit identity.
set -eu

PORT="${PORT:-8000}"
role="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$role" in
  web)
    exec daphne --bind 0.0.0.0 --port "$PORT" --application-close-timeout 10 \
      kefu.asgi:application "$@"
    ;;
  web-uvicorn)
    # Per-message deflate off: it costs CPU per frame for small JSON frames (daphne never
    # negotiates it). websockets-sansio: the legacy implementation is deprecated upstream,
    # and this one held 20,000 idle sockets in 12 % less memory. bench.chat --server
    # uvicorn and tests/liveserver.py run the same flags.
    exec uvicorn kefu.asgi:application --host 0.0.0.0 --port "$PORT" \
      --workers "${UVICORN_WORKERS:-1}" --no-proxy-headers --no-server-header \
      --loop uvloop --http httptools --ws websockets-sansio --ws-per-message-deflate false "$@"
    ;;
  worker)
    # Bot turns wait on AI providers, not on the CPU: a thread pool lets one process
    # hold hundreds of turns while their streams share one asyncio loop (bots/runtime.py).
    # The queue name is CELERY_TASK_DEFAULT_QUEUE in kefu/settings.py (CELERY_QUEUE, default kefu).
    exec celery -A kefu worker --queues "${CELERY_QUEUE:-kefu}" --loglevel INFO --without-mingle \
      --pool threads --concurrency "${WORKER_CONCURRENCY:-200}" "$@"
    ;;
  beat)
    # The schedule state is disposable; /tmp keeps the root filesystem read-only.
    exec celery -A kefu beat --loglevel INFO --schedule /tmp/celerybeat-schedule "$@"
    ;;
  migrate)
    python manage.py migrate --noinput "$@"
    exec python manage.py check --deploy --fail-level ERROR
    ;;
  manage)
    exec python manage.py "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
