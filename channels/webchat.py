"""The local web chat: talk to the bot as a migrant would, with no phone and no account.

GET /webhooks/webchat/ serves the page; POST /webhooks/webchat/webhook takes
``{"sender": ..., "message": ..., "metadata": {"language_code": ...}}`` and answers with
the bot's replies, like Rasa's REST channel, but with bad requests refused clearly.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from amparo.geo import parse_coordinates, pin_text

logger = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("static") / "webchat.html"
SENDER = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Longer than any phone channel allows (Telegram: 4,096); the rest is not read.
MAX_MESSAGE_CHARS = 4096
PIN_PAYLOAD = "/share_location"
# Only these metadata keys are accepted from the page; anything else is dropped.
METADATA_KEYS = ("language_code",)


class WebChatInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "webchat"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webchat = Blueprint("webchat_webhook", __name__)

        @webchat.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            return await response.file(PAGE, mime_type="text/html; charset=utf-8")

        @webchat.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                sender, text, metadata = parse_request(request.json)
            except ValueError as problem:
                return response.json({"error": str(problem)}, status=400)
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(
                        text,
                        collector,
                        sender,
                        input_channel=self.name(),
                        metadata=metadata,
                    )
                )
            except Exception:
                logger.exception("webchat: the message could not be handled")
                return response.json({"error": "temporarily unavailable"}, status=503)
            return response.json(collector.messages)

        return webchat


def parse_request(body: Any) -> tuple[str, str, dict[str, str]]:
    """Sender, text and accepted metadata of a request; ValueError if malformed."""
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    sender, text = body.get("sender"), body.get("message", "")
    if not isinstance(sender, str) or not SENDER.match(sender):
        raise ValueError("'sender' must be 8 to 64 letters, digits, '-' or '_'")
    if not isinstance(text, str):
        raise ValueError("'message' must be a string")
    raw = body.get("metadata")
    metadata = {
        key: str(raw[key])[:35]
        for key in METADATA_KEYS
        if isinstance(raw, dict) and isinstance(raw.get(key), str)
    }
    return sender, coarse_pin(text[:MAX_MESSAGE_CHARS]), metadata


def coarse_pin(text: str) -> str:
    """A location pin payload with its coordinates rounded to about 100 m, whatever the
    page sent: the exact position never reaches the bot or its store."""
    if not text.startswith(PIN_PAYLOAD):
        return text
    try:
        pin = parse_coordinates(json.loads(text[len(PIN_PAYLOAD) :]).get("location"))
    except (ValueError, AttributeError):
        pin = None
    if pin is None:
        return PIN_PAYLOAD  # no usable position: the bot asks where they are
    return PIN_PAYLOAD + json.dumps({"location": pin_text(*pin)})
