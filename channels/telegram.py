"""Telegram: POST /webhooks/telegram/webhook, registered with ``make telegram-webhook
URL=https://<public address>/webhooks/telegram/webhook``.

Only updates carrying the webhook's secret (X-Telegram-Bot-Api-Secret-Token) are read;
anything else gets 403. A repeated update_id gets no second reply. Updates are parsed
with python-telegram-bot's ``Update.de_json``: text, a shared location, button taps,
``/start``, ``/help`` and ``/language``; a photo, sticker or voice note gets a kind "I
read text and locations"; edits and every other kind of update are acknowledged and
left alone, so Telegram never redelivers them. Only private chats are answered: a
disclosure does not belong in a group.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import UserMessage
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Update

from amparo.settings import settings
from channels.base import (
    MEDIA_PAYLOAD,
    PhoneInput,
    PhoneOutput,
    agent_of,
    pin_payload,
)
from channels.outbound import TelegramSender, missing
from channels.render import Menu

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096
# Telegram's commands, as the payloads the bot knows.
COMMANDS = {
    "/start": "/greet",
    "/help": "/ask_help",
    "/language": "/choose_language",
}
ALLOWED_UPDATES = ["message", "callback_query"]


@dataclass(frozen=True)
class Inbound:
    update_id: int
    chat_id: str
    text: str
    language_code: str | None
    callback_id: str | None = None


def parse_update(data: Any) -> Inbound | None:
    """What an update says, or None when it is nothing to answer (an edit, a group
    message, a poll, a malformed update)."""
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return None
    try:
        return _inbound(Update.de_json(data, None))
    except Exception:  # the library's parse, or a field missing that must be there
        return None


def _inbound(update: Update) -> Inbound | None:
    query, message = update.callback_query, update.message
    if query is not None:
        chat = query.message.chat if query.message else None
        if chat is None or chat.type != "private" or not query.data:
            return None
        return Inbound(
            update_id=update.update_id,
            chat_id=str(chat.id),
            text=str(query.data)[:MAX_MESSAGE_CHARS],
            language_code=query.from_user.language_code if query.from_user else None,
            callback_id=query.id,
        )
    if message is None or message.chat.type != "private":
        return None
    return Inbound(
        update_id=update.update_id,
        chat_id=str(message.chat.id),
        text=_message_text(message),
        language_code=message.from_user.language_code if message.from_user else None,
    )


def _message_text(message) -> str:
    if message.location is not None:
        return pin_payload(message.location.latitude, message.location.longitude)
    if message.text is not None:
        text = message.text.strip()[:MAX_MESSAGE_CHARS]
        command = text.split(maxsplit=1)[0].split("@", 1)[0] if text else ""
        return COMMANDS.get(command, text)
    return MEDIA_PAYLOAD  # photo, sticker, voice, video, document, contact...


class TelegramInput(PhoneInput):
    @classmethod
    def name(cls) -> str:
        return "telegram"

    def make_sender(self) -> TelegramSender:
        return TelegramSender(self.config)

    def output_for(self, conversation: str, address: str) -> PhoneOutput:
        return PhoneOutput(
            self.name(), self.sender, Menu(has_buttons=True), conversation, address
        )

    async def receive(
        self,
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> HTTPResponse:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(
            secret.encode(), self.config.telegram_secret.encode()
        ):
            return response.json({"error": "bad secret"}, status=403)
        try:
            body = request.json
        except Exception:  # Sanic's own JSON error: not an update
            body = None
        inbound = parse_update(body)
        if inbound is None:
            return response.json({})
        if inbound.callback_id:
            self.in_background(self.sender.answer_callback(inbound.callback_id))
        metadata = (
            {"language_code": inbound.language_code[:35]}
            if inbound.language_code
            else None
        )
        refused = await self.take(
            on_new_message,
            delivery_id=str(inbound.update_id),
            address=inbound.chat_id,
            text=inbound.text,
            metadata=metadata,
            agent=agent_of(request),
        )
        return refused or response.json({})


async def set_webhook(url: str) -> str:
    """Points the bot's updates at ``url`` with the secret; returns Telegram's view."""
    config = settings()
    if missing(config, "telegram"):
        raise SystemExit("set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET first")
    if not url.startswith("https://"):
        raise SystemExit("Telegram only calls https:// webhooks")
    bot = TelegramSender(config).bot
    async with bot:
        await bot.set_webhook(
            url,
            secret_token=config.telegram_secret,
            allowed_updates=ALLOWED_UPDATES,
        )
        info = await bot.get_webhook_info()
    return f"webhook: {info.url} (pending updates: {info.pending_update_count})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m channels.telegram")
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("set-webhook", help="register the webhook")
    command.add_argument(
        "url", help="https://<public address>/webhooks/telegram/webhook"
    )
    args = parser.parse_args(argv)
    print(asyncio.run(set_webhook(args.url)))


if __name__ == "__main__":
    sys.exit(main())
