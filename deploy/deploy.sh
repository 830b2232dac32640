#!/usr/bin/env bash
# Deploy the checked-out branch on the VPS: pull, install, migrate, collect static files, warm the
# cache, restart the web service. It never starts a sync (timers or cron do; --full is by hand).
#
# Run as the service user from anywhere:   sudo -u crushme /opt/crushme/deploy/deploy.sh
# The restart goes through sudo; allow exactly that in /etc/sudoers.d/crushme (docs/operations.md).
#
# Overridable for a staging copy or a test: CRUSHME_APP_DIR, CRUSHME_ENV_FILE, CRUSHME_SYSTEMCTL,
# CRUSHME_SERVICE, CRUSHME_QUEUE_SERVICE, CRUSHME_SKIP_PULL=1, CRUSHME_RELOAD=1 (graceful HUP instead of a restart).
set -euo pipefail

APP_DIR="${CRUSHME_APP_DIR:-/opt/crushme}"
ENV_FILE="${CRUSHME_ENV_FILE:-/etc/crushme/crushme.env}"
SERVICE="${CRUSHME_SERVICE:-crushme.service}"
QUEUE_SERVICE="${CRUSHME_QUEUE_SERVICE:-crushme-queue.service}"
read -r -a SYSTEMCTL <<<"${CRUSHME_SYSTEMCTL:-sudo systemctl}"
PYTHON="$APP_DIR/.venv/bin/python"

log() { printf '%s deploy: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

cd "$APP_DIR"

if [[ ! -r "$ENV_FILE" ]]; then
  log "cannot read $ENV_FILE (see deploy/.env.example)" >&2
  exit 1
fi
# Same variables as the units' EnvironmentFile, exported for manage.py.
set -a
# shellcheck source=/dev/null
. "$ENV_FILE"
set +a
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-crushme_project.settings.production}"
# migrate/collectstatic are management commands: one plain connection, no pool.
export DB_POOL_ENABLED=false

if [[ "${CRUSHME_SKIP_PULL:-0}" != "1" ]]; then
  log "pulling"
  git pull --ff-only
fi

log "installing requirements"
"$PYTHON" -m pip install --quiet --disable-pip-version-check -r requirements.txt

log "checking the production settings"
"$PYTHON" manage.py check --deploy --fail-level ERROR

log "migrating"
"$PYTHON" manage.py migrate --noinput

log "collecting static files"
"$PYTHON" manage.py collectstatic --noinput --verbosity 0

if "$PYTHON" manage.py help list_fragments_fill >/dev/null 2>&1; then
  log "storing the product list fragments"
  "$PYTHON" manage.py list_fragments_fill
fi

if "$PYTHON" manage.py help warmup_cache >/dev/null 2>&1; then
  log "warming the cache"
  "$PYTHON" manage.py warmup_cache
else
  log "no warmup_cache command in this version, skipping"
fi

if [[ "${CRUSHME_RELOAD:-0}" == "1" ]]; then
  log "reloading $SERVICE (graceful)"
  "${SYSTEMCTL[@]}" reload "$SERVICE"
else
  log "restarting $SERVICE"
  "${SYSTEMCTL[@]}" restart "$SERVICE"
fi
# The queue processor runs the new code too (after the migration); try-restart leaves it stopped
# where it is not enabled. SIGTERM: it finishes its batch first.
log "restarting $QUEUE_SERVICE if it runs"
"${SYSTEMCTL[@]}" try-restart "$QUEUE_SERVICE"
log "done"
