# The README's two commands: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV  ?= .venv
BIN   := $(VENV)/bin
MODEL := models/amparo.tar.gz

export PYTHONPATH := $(CURDIR)
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 3
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONWARNINGS := ignore::DeprecationWarning

# What the model is trained from: retrain when any of it changes. Of the custom
# components only the disclosure classifier learns (its code, and the code it folds the
# text with, is listed); the others and the policy read their code and the language
# data (amparo/) when the model loads, so changing them needs a restart, not a retrain.
TRAIN_INPUTS := config.yml bot/components/disclosure.py amparo/disclosure.py \
  amparo/text.py amparo/cues.py \
  $(shell find bot data/nlu -type f -name '*.yml' 2>/dev/null)
TRAIN_DATA   := data/nlu bot/rules bot/stories

.PHONY: help run test train shell validate bench lint lock clean import-hxl account \
  keys telegram-webhook test-tools retention rotate-keys

help:
	@echo "make run      install, train if needed, start the bot and the local chat"
	@echo "make test     validate data, run pytest and the conversation tests"
	@echo "make shell    talk to the bot in the terminal (rasa shell)"
	@echo "make bench    benchmarks (tables for the README)"
	@echo "make import-hxl CSV=file   convert a partner's HXL service list to the catalog"
	@echo "make account NAME=ana TEAMS=\"gbv general\" [SUPERVISOR=1]   a caseworker account"
	@echo "make keys     fresh AMPARO_ID_KEY and AMPARO_DATA_KEYS (encryption at rest)"
	@echo "make retention [DAYS=N]   delete conversations and closed cases older than N days"
	@echo "make rotate-keys   re-encrypt everything with the first of AMPARO_DATA_KEYS"
	@echo "make telegram-webhook URL=https://…/webhooks/telegram/webhook"
	@echo "make train | validate | lint | lock | clean"

$(BIN)/.installed: requirements.lock scripts/find-python310
	@python=$$(scripts/find-python310) || exit 1; \
	if [ ! -x $(BIN)/python ] || ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then \
	  echo "Creating $(VENV) with $$python"; rm -rf $(VENV); "$$python" -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(BIN)/python -m pip check
	@touch $@

$(MODEL): $(BIN)/.installed $(TRAIN_INPUTS)
	@mkdir -p models
	@started=$$(date +%s) && \
	$(BIN)/rasa train --config config.yml --domain bot/domain --data $(TRAIN_DATA) \
	  --out models --fixed-model-name amparo --force && \
	echo $$(( $$(date +%s) - started )) > models/training-seconds
	@touch $@

train: $(MODEL)

run: $(MODEL)
	@scripts/run.sh

shell: $(MODEL)
	@scripts/shell.sh

validate: $(BIN)/.installed
	$(BIN)/rasa data validate --config config.yml --domain bot/domain --data $(TRAIN_DATA)

test: validate $(MODEL) test-tools
	@scripts/test.sh

# Debian's Chromium and nginx, for the console's browser tests and the scale-out tests
# (installed when missing and allowed).
test-tools:
	@scripts/install-package chromium $${AMPARO_CHROMIUM:-/usr/bin/chromium} "the console's browser tests"
	@scripts/install-package nginx $${AMPARO_NGINX:-/usr/sbin/nginx} "the scale-out tests"

bench: $(MODEL)
	$(BIN)/python -m bench.language
	$(BIN)/python -m bench.search
	$(BIN)/python -m bench.disclosure
	$(BIN)/python -m bench.load --readme

# A partner's HXL-tagged service list (CSV or XLSX) → var/services_catalog.yml + report.
import-hxl: $(BIN)/.installed
	@test -n "$(CSV)" || { echo "usage: make import-hxl CSV=services.csv"; exit 2; }
	$(BIN)/python -m amparo.hxl_import "$(CSV)" -o var/services_catalog.yml

# A caseworker account (asks for the password). Teams: gbv child_protection
# psychosocial trafficking general. SUPERVISOR=1: sees every team, reads the audit log.
account: $(BIN)/.installed
	@test -n "$(NAME)" || { echo 'usage: make account NAME=ana TEAMS="gbv general" [SUPERVISOR=1]'; exit 2; }
	$(BIN)/python -m caseworker.accounts create "$(NAME)" $(foreach t,$(TEAMS),--team $(t)) \
	  $(if $(SUPERVISOR),--supervisor)

# Secrets for the phone channels' pseudonyms and encrypted addresses (README, "Phone
# channels"): print them once, keep them in the deployment's environment.
keys: $(BIN)/.installed
	@$(BIN)/python -m amparo.contacts

# Privacy (README, "Privacy and data protection"): the local keys unless set.
retention: $(BIN)/.installed
	@. scripts/lib.sh && BIN=$(BIN) local_keys && \
	$(BIN)/python -m amparo.privacy retention $(if $(DAYS),--days $(DAYS))

rotate-keys: $(BIN)/.installed
	@. scripts/lib.sh && BIN=$(BIN) local_keys && $(BIN)/python -m amparo.privacy rotate-keys

telegram-webhook: $(BIN)/.installed
	@test -n "$(URL)" || { echo "usage: make telegram-webhook URL=https://host/webhooks/telegram/webhook"; exit 2; }
	$(BIN)/python -m channels.telegram set-webhook "$(URL)"

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Re-pin every package after editing requirements.in.
lock:
	@python=$$(scripts/find-python310) || exit 1; tmp=$$(mktemp -d); \
	"$$python" -m venv $$tmp && $$tmp/bin/pip install --quiet pip==24.2 && \
	$$tmp/bin/pip install --quiet -r requirements.in && \
	{ echo "# Generated by 'make lock' from requirements.in with Python 3.10. Do not edit."; \
	  $$tmp/bin/pip freeze --all | sort -f; } > requirements.lock; rm -rf $$tmp

clean:
	rm -rf models var results .pytest_cache
