"""The local web chat: talk to the bot as a migrant would, with no phone and no account.

GET /webhooks/webchat/ serves the page; POST /webhooks/webchat/webhook and GET
/webhooks/webchat/messages work as the REST channel's (channels/rest.py): the page
polls for what a caseworker writes. ``"looks_like": "sms" | "whatsapp" | "telegram"``
in a request shows the replies as that channel renders them (channels/render.py):
numbered choices that a number reply picks, SMS text and its segment count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.render import Menu, segments, sms_text
from channels.rest import RestInput

PAGE = Path(__file__).with_name("static") / "webchat.html"
LOOKS = ("sms", "whatsapp", "telegram")


class LookalikeOutput(CollectingOutputChannel):
    """Collects the replies as a phone channel would send them."""

    def __init__(self, look: str):
        super().__init__()
        self.look = look
        self.menu = Menu(has_buttons=look == "telegram")

    def name(self) -> str:  # type: ignore[override]
        return self.look  # so a channel's own response variations are used

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        self._collect(recipient_id, text)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict], **kwargs: Any
    ) -> None:
        text, keyed = self.menu.show(text, buttons)
        shown = [{"title": title, "payload": data} for title, data in keyed or []]
        self._collect(recipient_id, text, shown)

    def _collect(self, recipient_id: str, text: str, buttons=None) -> None:
        message: dict[str, Any] = {"recipient_id": recipient_id, "text": text}
        if self.look == "sms":
            message["text"] = sms_text(text)
            message["segments"] = segments(message["text"])
        if buttons:
            message["buttons"] = buttons
        self.messages.append(message)


class WebChatInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return "webchat"

    def output_channel(self, body: Any = None) -> OutputChannel:
        look = body.get("looks_like") if isinstance(body, dict) else None
        return LookalikeOutput(look) if look in LOOKS else super().output_channel()

    def add_routes(self, blueprint: Blueprint) -> None:
        @blueprint.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            return await response.file(PAGE, mime_type="text/html; charset=utf-8")
