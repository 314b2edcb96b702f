"""rasa_sdk action server: thin actions, one module per feature."""
