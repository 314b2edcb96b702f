"""Core of the assistant: no Rasa, Sanic or channel SDK imports live here."""
