#!/usr/bin/env bash
# Starts the action server, the Rasa server and the caseworker desk on localhost with
# the embedded defaults (SQLite, no credentials), waits until all answer, and says where
# to chat. Ctrl-C stops them all. Called by `make run`, which has installed and trained first.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
RASA_PORT=${RASA_PORT:-5005}
ACTIONS_PORT=${ACTIONS_PORT:-5055}
DESK_PORT=${DESK_PORT:-5080}
mkdir -p var
. scripts/lib.sh
local_keys || exit 1

pids=()
stop() {
  trap - INT TERM HUP EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
  fi
  echo "Stopped."
}
trap stop INT TERM HUP EXIT

started=$(date +%s.%N)
start_actions "$ACTIONS_PORT" var/actions.log || exit 1
pids+=("$ACTIONS_PID")
start_desk "$DESK_PORT" var/desk.log
pids+=("$DESK_PID")
endpoints_for "$ACTIONS_PORT" var/run-endpoints.yml
"$BIN/rasa" run --model models/amparo.tar.gz --interface 127.0.0.1 --port "$RASA_PORT" \
  --credentials credentials.yml --endpoints var/run-endpoints.yml >var/rasa.log 2>&1 &
pids+=($!)

echo "Starting the bot (logs in var/rasa.log, var/actions.log and var/desk.log)..."
"$BIN/python" -m scripts.wait_ready "http://127.0.0.1:$RASA_PORT/" \
  "http://127.0.0.1:$ACTIONS_PORT/health" "http://127.0.0.1:$DESK_PORT/health" \
  --pids "${pids[@]}" \
  --warm-up "http://127.0.0.1:$ACTIONS_PORT" || exit 1
ready=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
# on/off of a phone channel: all of its settings are in the environment.
state() { for v in "$@"; do [ -n "${!v:-}" ] || { echo "off"; return; }; done; echo "on"; }
twilio=(TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN AMPARO_ID_KEY AMPARO_DATA_KEYS)

cat <<MSG

  Ready in ${ready} s.
  Chat as a migrant would:  http://127.0.0.1:$RASA_PORT/webhooks/webchat/
  REST channel (scripts):   POST http://127.0.0.1:$RASA_PORT/webhooks/rest/webhook
                            {"sender": "any-id", "message": "hola"}
  In the terminal:          make shell
  Phone channels (README "Phone channels"), behind your public https address:
    WhatsApp  /webhooks/whatsapp/webhook  $(state "${twilio[@]}" TWILIO_WHATSAPP_FROM)
    SMS       /webhooks/sms/webhook       $(state "${twilio[@]}" TWILIO_SMS_FROM)
    Telegram  /webhooks/telegram/webhook  $(state TELEGRAM_BOT_TOKEN TELEGRAM_WEBHOOK_SECRET AMPARO_ID_KEY AMPARO_DATA_KEYS)
  Caseworkers log in here:  http://127.0.0.1:$DESK_PORT/  (README: "Caseworkers")
                            first account: make account NAME=ana TEAMS="gbv general"

  Ctrl-C stops everything.
MSG
# Stop everything as soon as either server dies, and say which.
wait -n "${pids[@]}"
echo "A server stopped unexpectedly; see var/rasa.log, var/actions.log, var/desk.log." >&2
exit 1
