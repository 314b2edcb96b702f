"""Sending to a person on a push channel, for the bot's replies and the caseworker
desk's alike (no Rasa here: the desk uses it without loading the bot)."""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiohttp

from amparo.settings import Settings

TIMEOUT_SECONDS = 10


class DeliveryError(Exception):
    """The channel did not take the message; worth retrying later."""


class Sender(Protocol):
    async def send(
        self, recipient: str, text: str, buttons: list[dict] | None = None
    ) -> None: ...


class CallbackSender:
    """POSTs ``{"recipient_id", "text", "buttons"}`` as JSON to the operator's URL
    (AMPARO_CALLBACK_URL): for an organisation's own app or a test harness."""

    def __init__(self, url: str):
        self.url = url

    async def send(
        self, recipient: str, text: str, buttons: list[dict] | None = None
    ) -> None:
        body = {"recipient_id": recipient, "text": text}
        if buttons:
            body["buttons"] = buttons
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(self.url, json=body) as answer,
            ):
                if answer.status >= 300:
                    raise DeliveryError(f"HTTP {answer.status} from the callback URL")
        except (aiohttp.ClientError, asyncio.TimeoutError) as problem:
            raise DeliveryError(f"{type(problem).__name__}: {problem}") from None


def push_senders(config: Settings) -> dict[str, Sender]:
    """The configured push channels by name. Channels the person's client polls (the
    local chat, REST) have none: their messages wait to be picked up."""
    senders: dict[str, Sender] = {}
    if config.callback_url:
        senders["callback"] = CallbackSender(config.callback_url)
    return senders
