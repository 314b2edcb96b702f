"""rasa_sdk action server: thin actions, one module per feature."""

from amparo.sealing import ciphers

# Cases are encrypted at rest: without the keys the server refuses to start, saying
# which setting is missing, instead of failing a disclosure's handoff later.
ciphers()
