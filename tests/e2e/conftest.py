"""A real stack for whole-conversation tests: action server + Rasa server (web chat,
REST, callback, WhatsApp, SMS and Telegram channels) + caseworker desk, sharing one
case store, with a fake callback receiver and fake Twilio and Telegram APIs standing in
for the push channels' APIs.

Uses the model `make test` trained (AMPARO_MODEL, default models/amparo.tar.gz).
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from amparo.cases import CaseStore
from amparo.catalog import LANGUAGES
from amparo.privacy import notice_values
from amparo.responses import responses
from scripts.stack import ROOT, Stack
from tests.conftest import TEST_DATA_KEY, TEST_ID_KEY
from tests.fakes import TELEGRAM_TOKEN, TWILIO_SID, TWILIO_TOKEN, FakeApis

MODEL = Path(os.environ.get("AMPARO_MODEL", ROOT / "models" / "amparo.tar.gz"))


@dataclass
class Reply:
    text: str
    buttons: list[dict]
    language: str | None


def call(
    method: str, url: str, body: object = None, token: str | None = None
) -> tuple[int, object]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@dataclass
class Inbox:
    """The fake push-channel API: records what it is sent; can refuse on demand."""

    received: list[dict] = field(default_factory=list)
    refuse: int = 0  # answer 502 to this many of the next requests

    def texts_for(self, recipient: str) -> list[str]:
        """What the recipient was sent, the privacy notice set aside."""
        return [
            m["text"]
            for m in self.received
            if m["recipient_id"] == recipient and m["text"] not in NOTICES
        ]

    def serve(self) -> str:
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if inbox.refuse:
                    inbox.refuse -= 1
                    self.send_response(502)
                else:
                    inbox.received.append(body)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}/inbox"


class Desk:
    """The caseworker desk's API, as a caseworker's client uses it."""

    def __init__(self, base: str, store: CaseStore) -> None:
        self.base, self.store = base, store

    def login(self, username: str) -> str:
        status, answer = call(
            "POST",
            f"{self.base}/api/login",
            {"username": username, "password": PASSWORD, "bearer": True},
        )
        assert status == 200, answer
        return answer["token"]

    def __call__(self, method: str, path: str, token: str, body=None):
        return call(method, f"{self.base}/api{path}", body, token)


# The privacy notice in each language, as the channels say it.
NOTICES = frozenset(
    responses().text("utter_privacy_notice", language, **notice_values(language))
    for language in LANGUAGES
)
PASSWORD = "a long test password"
PUBLIC_URL = "https://amparo.example.org"
SMS_NUMBER = "+15005550006"
WHATSAPP_NUMBER = "+14155238886"
TELEGRAM_SECRET = "e2e-telegram-secret_123"


class Chat:
    def __init__(
        self, base: str, desk: Desk, inbox: Inbox, apis: FakeApis, tmp: Path
    ) -> None:
        self.base = base
        self.desk, self.inbox, self.apis, self.tmp = desk, inbox, apis, tmp

    def post(self, body: object, channel: str = "webchat") -> tuple[int, object]:
        return call("POST", f"{self.base}/webhooks/{channel}/webhook", body)

    def team(self, sender: str) -> list[str]:
        """What the local chat page would show from the team now (and marks it read)."""
        status, replies = call(
            "GET", f"{self.base}/webhooks/webchat/messages?sender={sender}"
        )
        assert status == 200, replies
        return [r["text"] for r in replies]

    def wait_for_team(self, sender: str, count: int = 1, seconds: float = 10) -> list:
        seen: list[str] = []
        deadline = time.monotonic() + seconds
        while len(seen) < count and time.monotonic() < deadline:
            seen += self.team(sender)
            time.sleep(0.2)
        return seen

    def say(
        self, sender: str, text: str, *, notice: bool = False, **metadata: str
    ) -> list[Reply]:
        replies = self.say_maybe(sender, text, notice=notice, **metadata)
        assert replies, f"no reply to {text!r}"
        return replies

    def say_maybe(
        self, sender: str, text: str, *, notice: bool = False, **metadata: str
    ) -> list[Reply]:
        """What the person gets back, perhaps nothing (a case has the conversation).
        The privacy notice after a first answer is set aside unless ``notice``:
        tests/e2e/test_privacy.py checks it."""
        status, replies = self.post(
            {"sender": sender, "message": text, "metadata": metadata}
        )
        assert status == 200, (text, status, replies)
        return [
            Reply(
                r.get("text", ""),
                r.get("buttons") or [],
                responses().language_of(r.get("text", "")),
            )
            for r in replies
            if notice or r.get("text") not in NOTICES
        ]


@pytest.fixture(scope="session")
def chat(tmp_path_factory) -> Iterator[Chat]:
    if not MODEL.is_file():
        pytest.skip(f"no trained model at {MODEL}: run `make test`, which trains first")
    tmp = tmp_path_factory.mktemp("stack")
    inbox = Inbox()
    apis = FakeApis(set_aside=NOTICES)
    apis.serve()
    cases_db = f"sqlite:///{tmp / 'cases.db'}"
    store = CaseStore.from_url(cases_db)
    store.create_caseworker(username="ana", password=PASSWORD, teams=["gbv", "general"])
    store.create_caseworker(username="sue", password=PASSWORD, role="supervisor")
    stack = Stack(
        tmp,
        MODEL,
        CHANNELS,
        {
            "AMPARO_CASES_DB": cases_db,
            "AMPARO_TEAM_HOURS": "24/7",
            "AMPARO_CALLBACK_URL": inbox.serve(),
            **phone_settings(apis.url),
        },
    )
    try:
        stack.start()
    except RuntimeError as problem:
        pytest.fail(str(problem))
    try:
        desk = Desk(stack.url("desk"), store)
        yield Chat(stack.url("rasa"), desk, inbox, apis, tmp)
    finally:
        stack.stop()


CHANNELS = (
    "channels.webchat.WebChatInput",
    "channels.callback.CallbackInput",
    "channels.twilio.WhatsAppInput",
    "channels.twilio.SmsInput",
    "channels.telegram.TelegramInput",
)


def phone_settings(api_url: str) -> dict[str, str]:
    """WhatsApp, SMS and Telegram on, against the fake APIs at ``api_url``."""
    return {
        # Twilio signs the URL it called: the public one, as behind a reverse proxy.
        "AMPARO_PUBLIC_URL": PUBLIC_URL,
        "AMPARO_ID_KEY": TEST_ID_KEY,
        "AMPARO_DATA_KEYS": TEST_DATA_KEY,
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_SMS_FROM": SMS_NUMBER,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_NUMBER,
        "TWILIO_API_URL": api_url,
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "TELEGRAM_API_URL": api_url,
    }
