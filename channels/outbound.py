"""Sending to a person on a push channel, for the bot's replies and the caseworker
desk's alike (no Rasa here: the desk uses it without loading the bot).

Every sender takes the pseudonymous conversation id; the phone channels look the
address up (amparo.contacts) only to hand it to the channel's API, and never log it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

import aiohttp

from amparo.contacts import Keys, NoAddress, contacts
from amparo.settings import Settings
from channels.render import (
    PIN_PAYLOAD,
    TELEGRAM_LIMIT,
    TWILIO_LIMIT,
    sms_text,
    split,
)

TIMEOUT_SECONDS = 10
# The libraries log request headers and URLs at INFO; addresses must not reach logs.
for _name in ("twilio", "httpx", "telegram"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class DeliveryError(Exception):
    """The channel did not take the message; worth retrying later."""


class Sender(Protocol):
    async def send(
        self, recipient: str, text: str, buttons: list[dict] | None = None
    ) -> None: ...

    async def close(self) -> None:
        """Lets go of the sender's connections (when its server stops)."""


class PhoneSender(Sender, Protocol):
    async def deliver(
        self, address: str, text: str, buttons: list | None = None
    ) -> None: ...


class CallbackSender:
    """POSTs ``{"recipient_id", "text", "buttons"}`` as JSON to the operator's URL
    (AMPARO_CALLBACK_URL): for an organisation's own app or a test harness."""

    def __init__(self, url: str):
        self.url = url

    async def close(self) -> None:
        """Nothing kept: each send has its own session."""

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


class TwilioSender:
    """SMS or WhatsApp through Twilio's Messages API (twilio's own async client, so
    the event loop never waits on a send). Long texts go as several messages, in
    order; SMS texts lose the characters that would make every segment cost double.
    """

    def __init__(self, channel: str, config: Settings):
        self.channel = channel
        self.config = config
        self.from_number = (
            config.twilio_sms_from
            if channel == "sms"
            else _whatsapp(config.twilio_whatsapp_from)
        )
        self._client = None

    def client(self):
        if self._client is None:  # its aiohttp session needs the running loop
            from twilio.http.async_http_client import AsyncTwilioHttpClient
            from twilio.rest import Client

            client = Client(
                self.config.twilio_account_sid,
                self.config.twilio_auth_token,
                http_client=AsyncTwilioHttpClient(timeout=TIMEOUT_SECONDS),
            )
            client.api.base_url = self.config.twilio_api_url
            self._client = client
        return self._client

    async def close(self) -> None:
        """Closes the client's aiohttp session (a later send opens another)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.http_client.close()

    async def send(
        self, recipient: str, text: str, buttons: list[dict] | None = None
    ) -> None:
        await self.deliver(await _address(recipient), text, buttons)

    async def deliver(
        self, address: str, text: str, buttons: list[dict] | None = None
    ) -> None:
        """Sends to an address already known (the one a message just came from)."""
        from twilio.base.exceptions import TwilioException

        if self.channel == "sms":
            text = sms_text(text)
        for piece in split(text, TWILIO_LIMIT):
            try:
                # twilio's async client passes no timeout to aiohttp: ours bounds it.
                await asyncio.wait_for(
                    self.client().messages.create_async(
                        to=address, from_=self.from_number, body=piece
                    ),
                    TIMEOUT_SECONDS,
                )
            except TwilioException as problem:
                status = getattr(problem, "status", "")
                raise DeliveryError(f"Twilio refused the message {status}") from None
            except (aiohttp.ClientError, asyncio.TimeoutError) as problem:
                raise DeliveryError(f"Twilio: {type(problem).__name__}") from None


class TelegramSender:
    """Telegram through python-telegram-bot's Bot: buttons as an inline keyboard (a
    location request as a one-tap reply keyboard), texts over 4,096 characters split.
    ``buttons`` here are (title, callback data) pairs (channels.render.Menu.keyed).
    """

    def __init__(self, config: Settings):
        from telegram import Bot
        from telegram.request import HTTPXRequest

        # The default is one connection: conversations would queue for it.
        self.request = HTTPXRequest(
            connection_pool_size=32,
            pool_timeout=TIMEOUT_SECONDS,
            read_timeout=TIMEOUT_SECONDS,
        )
        self.bot = Bot(
            config.telegram_token,
            base_url=f"{config.telegram_api_url}/bot",
            base_file_url=f"{config.telegram_api_url}/file/bot",
            request=self.request,
        )

    async def close(self) -> None:
        """Closes the connections (a later send opens them again)."""
        await self.request.shutdown()

    async def send(
        self, recipient: str, text: str, buttons: list | None = None
    ) -> None:
        await self.deliver(await _address(recipient), text, buttons)

    async def deliver(
        self, chat_id: str, text: str, buttons: list | None = None
    ) -> None:
        """Sends to a chat already known (the one a message just came from)."""
        from telegram.error import TelegramError

        await self.request.initialize()  # opens them again after close()
        pieces = split(text, TELEGRAM_LIMIT) or [text]
        for number, piece in enumerate(pieces, 1):
            markup = keyboard(buttons) if number == len(pieces) else None
            try:
                await self.bot.send_message(chat_id, piece, reply_markup=markup)
            except TelegramError as problem:
                raise DeliveryError(f"Telegram: {type(problem).__name__}") from None

    async def answer_callback(self, callback_id: str) -> None:
        """Stops the spinner on the tapped button; a failure here changes nothing."""
        from telegram.error import TelegramError

        await self.request.initialize()
        with contextlib.suppress(TelegramError):
            await self.bot.answer_callback_query(callback_id)


def keyboard(buttons: list | None):
    """Inline buttons; a location request alone becomes a reply keyboard button (the
    only kind Telegram lets ask for the location)."""
    from telegram import (
        InlineKeyboardButton,
        InlineKeyboardMarkup,
        KeyboardButton,
        ReplyKeyboardMarkup,
    )

    if not buttons:
        return None
    inline = [(t, d) for t, d in buttons if d != PIN_PAYLOAD]
    if inline:
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(t, callback_data=d)] for t, d in inline]
        )
    title = buttons[0][0]
    return ReplyKeyboardMarkup(
        [[KeyboardButton(title, request_location=True)]],
        one_time_keyboard=True,
        resize_keyboard=True,
    )


def _whatsapp(number: str) -> str:
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


async def _address(recipient: str) -> str:
    try:
        return await asyncio.to_thread(contacts().address_of, recipient)
    except NoAddress as problem:
        raise DeliveryError(str(problem)) from None


# The settings each phone channel needs (besides the keys, amparo/contacts.py).
NEEDS = {
    "sms": ("twilio_account_sid", "twilio_auth_token", "twilio_sms_from"),
    "whatsapp": ("twilio_account_sid", "twilio_auth_token", "twilio_whatsapp_from"),
    "telegram": ("telegram_token", "telegram_secret"),
}


ENVIRONMENT = {
    "twilio_account_sid": "TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "TWILIO_AUTH_TOKEN",
    "twilio_sms_from": "TWILIO_SMS_FROM",
    "twilio_whatsapp_from": "TWILIO_WHATSAPP_FROM",
    "telegram_token": "TELEGRAM_BOT_TOKEN",
    "telegram_secret": "TELEGRAM_WEBHOOK_SECRET",
}


def missing(config: Settings, channel: str) -> list[str]:
    """The environment variables a phone channel still needs (none: it is on)."""
    return [ENVIRONMENT[name] for name in NEEDS[channel] if not getattr(config, name)]


async def close_all(senders: dict[str, Sender]) -> None:
    """Closes every sender's connections: the server that used them has stopped."""
    for sender in senders.values():
        await sender.close()


def push_senders(config: Settings) -> dict[str, Sender]:
    """The configured push channels by name. Channels the person's client polls (the
    local chat, REST) have none: their messages wait to be picked up."""
    senders: dict[str, Sender] = {}
    if config.callback_url:
        senders["callback"] = CallbackSender(config.callback_url)
    for channel in ("sms", "whatsapp"):
        if not missing(config, channel):
            senders[channel] = TwilioSender(channel, config)
    if not missing(config, "telegram"):
        senders["telegram"] = TelegramSender(config)
    if set(senders) - {"callback"}:
        Keys.of(config)  # a phone channel without its keys: say so now, clearly
    return senders
