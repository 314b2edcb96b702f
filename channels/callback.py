"""The callback channel: POST ``{"sender", "message"}`` to /webhooks/callback/webhook;
every reply, the bot's and the caseworker's, is POSTed to AMPARO_CALLBACK_URL
(channels/outbound.py). For an organisation's own app, and the push channel the tests
use to prove that a failed delivery is retried."""

from __future__ import annotations

from typing import Any

from rasa.core.channels.channel import OutputChannel
from sanic import response
from sanic.response import HTTPResponse

from amparo.settings import settings
from channels.outbound import CallbackSender
from channels.rest import RestInput


class CallbackOutput(OutputChannel):
    @classmethod
    def name(cls) -> str:
        return "callback"

    def __init__(self, sender: CallbackSender):
        self.sender = sender

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        await self.sender.send(recipient_id, text)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict], **kwargs: Any
    ) -> None:
        await self.sender.send(recipient_id, text, buttons)


class CallbackInput(RestInput):
    # The desk pushes what the team writes: nothing to fetch.
    polled = False

    @classmethod
    def name(cls) -> str:
        return "callback"

    @classmethod
    def from_credentials(cls, credentials: dict | None) -> CallbackInput:
        if not settings().callback_url:
            raise ValueError("the callback channel needs AMPARO_CALLBACK_URL")
        return cls()

    def output_channel(self, body: Any = None) -> OutputChannel:
        return CallbackOutput(CallbackSender(settings().callback_url))

    async def handled(self, sender: str, output: OutputChannel) -> HTTPResponse:
        return response.json({"status": "received"})
