"""The REST channel for scripts (POST /webhooks/rest/webhook, like Rasa's own) on our
base: the same routing to an open case as every channel, bad requests refused clearly,
and what the team writes picked up with GET /webhooks/rest/messages?sender=… or with
the answer to the person's next message.

Request: ``{"sender": ..., "message": ..., "metadata": {"language_code": ...}}``.
Answer: the bot's replies, then anything from the team (``"from": "team"``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    OutputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from amparo.handoff import case_store
from channels.base import AmparoInput, agent_of, coarse_pin

logger = logging.getLogger(__name__)

SENDER = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Longer than any phone channel allows (Telegram: 4,096); the rest is not read.
MAX_MESSAGE_CHARS = 4096
# Only these metadata keys are accepted; anything else is dropped.
METADATA_KEYS = ("language_code",)


class RestInput(AmparoInput):
    # The person's client fetches what the team writes (GET /messages).
    polled = True

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        blueprint = Blueprint(f"{self.name()}_webhook", __name__)
        self.add_routes(blueprint)

        @blueprint.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                sender, text, metadata = parse_request(request.json)
            except ValueError as problem:
                return response.json({"error": str(problem)}, status=400)
            return await self.answer(
                on_new_message,
                sender,
                text,
                metadata,
                self.output_channel(request.json),
                agent_of(request),
            )

        if self.polled:

            @blueprint.route("/messages", methods=["GET"])
            async def pick_up(request: Request) -> HTTPResponse:
                sender = request.args.get("sender", "")
                if not SENDER.match(sender):
                    return response.json({"error": "unknown sender"}, status=400)
                try:
                    team = await asyncio.to_thread(
                        case_store().pick_up, sender, channel=self.name()
                    )
                except Exception:
                    logger.exception("%s: messages not picked up", self.name())
                    return response.json(
                        {"error": "temporarily unavailable"}, status=503
                    )
                return response.json(team_messages(sender, team))

        return blueprint

    async def answer(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        sender: str,
        text: str,
        metadata: dict,
        output: OutputChannel,
        agent: Any = None,
    ) -> HTTPResponse:
        try:
            await self.route(
                on_new_message,
                sender=sender,
                text=text,
                output=output,
                metadata=metadata,
                agent=agent,
            )
        except Exception:
            # Neither stored nor answered: the client may send it again.
            logger.exception("%s: the message could not be handled", self.name())
            return response.json({"error": "temporarily unavailable"}, status=503)
        return await self.handled(sender, output)

    def output_channel(self, body: Any = None) -> OutputChannel:
        """Where this request's replies go (``body``: the request, for channels that
        render them differently on demand)."""
        return CollectingOutputChannel()

    async def handled(self, sender: str, output: OutputChannel) -> HTTPResponse:
        """The bot's replies, then anything from the team not yet fetched."""
        try:
            team = await asyncio.to_thread(
                case_store().pick_up, sender, channel=self.name()
            )
        except Exception:  # handled already; the next poll brings these
            logger.exception("%s: team messages not picked up", self.name())
            team = []
        return response.json(output.messages + team_messages(sender, team))

    def add_routes(self, blueprint: Blueprint) -> None:
        """GET /: a health check here; the web chat serves its page instead."""

        @blueprint.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})


def team_messages(sender: str, messages: list) -> list[dict]:
    return [
        {"recipient_id": sender, "text": message.text, "from": "team"}
        for message in messages
    ]


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
