"""The local web chat: talk to the bot as a migrant would, with no phone and no account.

GET /webhooks/webchat/ serves the page; POST /webhooks/webchat/webhook and GET
/webhooks/webchat/messages work as the REST channel's (channels/rest.py): the page
polls for what a caseworker writes.
"""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.rest import RestInput

PAGE = Path(__file__).with_name("static") / "webchat.html"


class WebChatInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return "webchat"

    def add_routes(self, blueprint: Blueprint) -> None:
        @blueprint.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            return await response.file(PAGE, mime_type="text/html; charset=utf-8")
