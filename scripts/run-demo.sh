#!/usr/bin/env bash
# The main job on the embedded defaults (SQLite, local-memory cache, the bundled
# WooCommerce sandbox): migrate, start the sandbox, mirror it with a full sync,
# then serve the API and the admin on 127.0.0.1:8000 until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
SANDBOX_PORT=${SANDBOX_PORT:-8800}
SANDBOX_PRODUCTS=${SANDBOX_PRODUCTS:-2000}
WEB_PORT=${WEB_PORT:-8000}
export DJANGO_SETTINGS_MODULE=crushme_project.settings.base
export DJANGO_DEBUG=${DJANGO_DEBUG:-true}
export WOOCOMMERCE_URL="http://127.0.0.1:${SANDBOX_PORT}"
# Webhooks: the sandbox store delivers its changes to this server; a processor applies them.
WOOCOMMERCE_WEBHOOK_SECRET=${WOOCOMMERCE_WEBHOOK_SECRET:-$(.venv/bin/python -c "import secrets; print(secrets.token_urlsafe(32))")}
export WOOCOMMERCE_WEBHOOK_SECRET
export WOOCOMMERCE_WEBHOOK_DELIVERY_URL="http://127.0.0.1:${WEB_PORT}/api/webhooks/woocommerce/"
mkdir -p var

"$PY" manage.py migrate --noinput

"$PY" manage.py woocommerce_sandbox --port "$SANDBOX_PORT" --products "$SANDBOX_PRODUCTS" >var/sandbox.log 2>&1 &
sandbox_pid=$!
queue_pid=""
trap 'kill "$sandbox_pid" $queue_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" \
      "http://127.0.0.1:${SANDBOX_PORT}/__sandbox__/state" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$sandbox_pid" 2>/dev/null; then
    echo "The WooCommerce sandbox did not start (is port ${SANDBOX_PORT} free? set SANDBOX_PORT):" >&2
    cat var/sandbox.log >&2
    exit 1
  fi
  sleep 0.5
done

"$PY" manage.py sync_woocommerce --full
"$PY" manage.py woocommerce_webhooks --install
"$PY" manage.py process_sync_queue >var/queue.log 2>&1 &
queue_pid=$!

# A local admin account for the demo, with a fresh random password each run.
password=$("$PY" -c "import secrets; print(secrets.token_urlsafe(12))")
DEMO_PASSWORD="$password" "$PY" manage.py shell --no-imports -c "
import os
from django.contrib.auth import get_user_model
user, _ = get_user_model().objects.get_or_create(username='demo', defaults={'is_staff': True, 'is_superuser': True})
user.set_password(os.environ['DEMO_PASSWORD']); user.save()
"

cat <<INFO

CrushMe catalog is up on the embedded defaults (SQLite db.sqlite3, local-memory cache):
  Catalog API     http://127.0.0.1:${WEB_PORT}/api/products/   /api/categories/
  API docs        http://127.0.0.1:${WEB_PORT}/api/docs/
  Health          http://127.0.0.1:${WEB_PORT}/api/health/
  Admin           http://127.0.0.1:${WEB_PORT}/admin/   user: demo   password: ${password}
                  (mirrored catalog and the sync history under "WooCommerce sync")
  Sandbox store   ${WOOCOMMERCE_URL}/wp-json/wc/v3/   control: ${WOOCOMMERCE_URL}/__sandbox__/state
  Webhooks        the sandbox delivers every 5 s to /api/webhooks/woocommerce/; the queue processor
                  (log: var/queue.log) applies them; the queue is under "Sync operations" in the admin
Try: .venv/bin/python manage.py sync_woocommerce --stock    (Ctrl-C stops the server, the processor and the sandbox)
     curl -X POST ${WOOCOMMERCE_URL}/__sandbox__/orders -d '{"line_items": [{"product_id": <id>, "quantity": 2}]}'
     (local-memory cache: the API may show a change only after its cache TTL; Redis shares the invalidation)

INFO

"$PY" manage.py runserver "127.0.0.1:${WEB_PORT}" --noreload
