"""WhatsApp and SMS through Twilio: POST /webhooks/whatsapp/webhook and
/webhooks/sms/webhook (the Messaging webhook of the number or WhatsApp sender).

Only requests signed by Twilio for the public URL (AMPARO_PUBLIC_URL + path) are read;
anything else gets 403. A repeated MessageSid gets no second reply. A WhatsApp
location becomes the search's pin; a photo or voice note gets a kind "I read text and
locations"; Twilio is answered with empty TwiML at once and every reply goes through
Twilio's REST API (channels/outbound.py), choices as numbered lists.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from rasa.core.channels.channel import UserMessage
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from amparo.language import calling_code
from channels.base import (
    MEDIA_PAYLOAD,
    PhoneInput,
    PhoneOutput,
    agent_of,
    pin_payload,
)
from channels.outbound import TwilioSender
from channels.render import Menu

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096
_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
_PHONE = re.compile(r"^(whatsapp:)?\+?[0-9]{4,17}$")


@dataclass(frozen=True)
class Inbound:
    sid: str
    address: str  # as Twilio gives it: "+5215512345678" or "whatsapp:+57300..."
    text: str
    calling_code: str | None  # the country's: a weak hint of the language


def parse_form(form: dict[str, str]) -> Inbound:
    """What a (verified) Twilio webhook says; ValueError when it is not a message."""
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
    address = form.get("From") or ""
    if not _SID.match(sid):
        raise ValueError("no MessageSid")
    if not _PHONE.match(address):
        raise ValueError("no sender")
    latitude, longitude = form.get("Latitude"), form.get("Longitude")
    body = (form.get("Body") or "").strip()[:MAX_MESSAGE_CHARS]
    if latitude and longitude:
        text = pin_payload(latitude, longitude)
    elif not body and _media_count(form):
        text = MEDIA_PAYLOAD
    else:
        text = body
    return Inbound(
        sid=sid, address=address, text=text, calling_code=calling_code(address)
    )


def _media_count(form: dict[str, str]) -> int:
    try:
        return int(form.get("NumMedia") or 0)
    except ValueError:
        return 0


class TwilioInput(PhoneInput):
    """The part WhatsApp and SMS share; each has its own number and webhook URL."""

    def make_sender(self) -> TwilioSender:
        self.validator = RequestValidator(self.config.twilio_auth_token)
        return TwilioSender(self.name(), self.config)

    def output_for(self, conversation: str, address: str) -> PhoneOutput:
        return PhoneOutput(self.name(), self.sender, Menu(), conversation, address)

    def public_url(self, request: Request) -> str:
        """The URL Twilio called, as Twilio saw it (behind a proxy: the proxy's)."""
        base = self.config.public_url or f"{request.scheme}://{request.host}"
        query = f"?{request.query_string}" if request.query_string else ""
        return f"{base}{request.path}{query}"

    async def receive(
        self,
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> HTTPResponse:
        # Twilio signs every field, empty ones too ("Body="), which Sanic's
        # request.form drops: the body is read here as Twilio sent it.
        body = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        form = {key: values[0] for key, values in body.items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not self.validator.validate(
            self.public_url(request), form, signature
        ):
            return response.json({"error": "bad signature"}, status=403)
        try:
            inbound = parse_form(form)
        except ValueError:  # a status callback or another event: nothing to say
            return twiml()
        refused = await self.take(
            on_new_message,
            delivery_id=inbound.sid,
            address=inbound.address,
            text=inbound.text,
            metadata={"calling_code": inbound.calling_code}
            if inbound.calling_code
            else None,
            agent=agent_of(request),
        )
        return refused or twiml()


def twiml() -> HTTPResponse:
    """An empty TwiML answer: the replies go through the REST API."""
    return response.text(
        str(MessagingResponse()), content_type="text/xml; charset=utf-8"
    )


class WhatsAppInput(TwilioInput):
    @classmethod
    def name(cls) -> str:
        return "whatsapp"


class SmsInput(TwilioInput):
    @classmethod
    def name(cls) -> str:
        return "sms"
