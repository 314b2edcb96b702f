# Sourced by run.sh, shell.sh and test.sh (which set BIN): the action server and the
# caseworker desk, started one way everywhere, and Rasa pointed at the action server.

# start_actions PORT LOGFILE: the action server on 127.0.0.1:PORT; sets ACTIONS_PID.
# Refuses to start on an invalid service catalog, printing every problem.
start_actions() {
  "$BIN/python" -m amparo.catalog check "${AMPARO_CATALOG:-services_catalog.yml}" || return 1
  SANIC_HOST=127.0.0.1 "$BIN/rasa" run actions --actions actions --port "$1" >"$2" 2>&1 &
  ACTIONS_PID=$!
}

# endpoints_for PORT FILE: endpoints.yml, with the action server at PORT.
endpoints_for() {
  sed "s#http://127.0.0.1:5055/webhook#http://127.0.0.1:$1/webhook#" endpoints.yml >"$2"
}

# start_desk PORT LOGFILE: the caseworker desk (JSON API) on 127.0.0.1:PORT; sets DESK_PID.
start_desk() {
  "$BIN/python" -m caseworker --port "$1" >"$2" 2>&1 &
  DESK_PID=$!
}

# local_keys: without AMPARO_DATA_KEYS in the environment, the keys of this checkout,
# made once in var/keys.env (readable by its owner only). They encrypt case messages,
# notes and addresses at rest: losing the file loses what they sealed.
local_keys() {
  if [ -n "${AMPARO_DATA_KEYS:-}" ]; then return 0; fi
  if [ ! -s var/keys.env ]; then
    mkdir -p var
    (umask 077 && "$BIN/python" -m amparo.contacts >var/keys.env) || return 1
    echo "Made encryption keys for this checkout: var/keys.env (keep it; back it up)."
  fi
  set -a
  . var/keys.env
  set +a
}
