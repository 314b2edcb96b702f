#!/usr/bin/env bash
# `rasa shell` with the action server running beside it. Ports differ from `make run`,
# so both can run at once.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
ACTIONS_PORT=${SHELL_ACTIONS_PORT:-5065}
mkdir -p var
SANIC_HOST=127.0.0.1 "$BIN/rasa" run actions --actions actions --port "$ACTIONS_PORT" \
  >var/shell-actions.log 2>&1 &
actions=$!
trap 'kill $actions 2>/dev/null; wait $actions 2>/dev/null' EXIT INT TERM HUP
sed "s#http://127.0.0.1:5055/webhook#http://127.0.0.1:$ACTIONS_PORT/webhook#" endpoints.yml \
  >var/shell-endpoints.yml
"$BIN/python" -m scripts.wait_ready "http://127.0.0.1:$ACTIONS_PORT/health" --pids $actions || exit 1
"$BIN/rasa" shell --model models/amparo.tar.gz --endpoints var/shell-endpoints.yml \
  --port "${SHELL_PORT:-5006}"
