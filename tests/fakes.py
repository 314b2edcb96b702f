"""Fake Twilio and Telegram APIs on 127.0.0.1: they record what they are sent, answer
as the real ones do (enough for twilio's and python-telegram-bot's clients), and can
refuse or stall on demand."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-test-auth-token"
TELEGRAM_TOKEN = "123456:TEST-token_for-the-fake-api"


@dataclass
class Sent:
    api: str  # "twilio" or "telegram"
    method: str  # "Messages" or the Bot API method
    fields: dict
    at: float = field(default_factory=time.monotonic)  # when it arrived

    @property
    def to(self) -> str:
        return str(self.fields.get("To") or self.fields.get("chat_id") or "")

    @property
    def text(self) -> str:
        return str(self.fields.get("Body") or self.fields.get("text") or "")

    @property
    def markup(self) -> dict:
        return json.loads(self.fields.get("reply_markup") or "{}")


@dataclass
class FakeApis:
    sent: list[Sent] = field(default_factory=list)
    refuse: int = 0  # answer 500 to this many of the next sends
    stall: float = 0.0  # seconds a Twilio send is held after it is recorded
    url: str = ""
    # Texts left out of what messages() lists unless asked for (the e2e tests set
    # aside the privacy notice, which tests/e2e/test_privacy.py checks).
    set_aside: frozenset[str] = frozenset()
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # The messages sent to each recipient, as they came (the load benchmark asks for
    # one person's many times a second, among thousands).
    _to: dict[str, list[Sent]] = field(default_factory=dict)

    def messages(self, to: str = "", *, everything: bool = False) -> list[Sent]:
        with self._lock:
            return [
                s
                for s in (self._to.get(to, []) if to else self.sent)
                if s.method in ("Messages", "sendMessage")
                and (everything or s.text not in self.set_aside)
            ]

    def texts(self, to: str) -> list[str]:
        return [s.text for s in self.messages(to)]

    def wait(
        self, to: str, count: int = 1, seconds: float = 15, *, everything=False
    ) -> list[Sent]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.messages(to, everything=everything)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        return self.messages(to, everything=everything)

    def clear(self) -> None:
        with self._lock:
            self.sent.clear()
            self._to.clear()

    def serve(self) -> str:
        apis = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    fields = json.loads(raw or b"{}")
                else:
                    fields = dict(urllib.parse.parse_qsl(raw.decode()))
                twilio = re.fullmatch(
                    r"/2010-04-01/Accounts/(\w+)/Messages\.json", self.path
                )
                telegram = re.fullmatch(r"/bot([^/]+)/(\w+)", self.path)
                if twilio:
                    self.twilio(twilio.group(1), fields)
                elif telegram and telegram.group(1) == TELEGRAM_TOKEN:
                    self.telegram(telegram.group(2), fields)
                else:
                    self.answer(404, {"ok": False, "description": "Not Found"})

            def twilio(self, account: str, fields: dict) -> None:
                expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode())
                if self.headers.get("Authorization") != f"Basic {expected.decode()}":
                    self.answer(401, {"code": 20003, "message": "Authenticate"})
                    return
                if apis.take_refusal():
                    self.answer(500, {"code": 20500, "message": "Internal error"})
                    return
                apis.record(Sent("twilio", "Messages", fields))
                time.sleep(apis.stall)
                sid = "SM" + f"{len(apis.sent):032x}"
                self.answer(201, {"sid": sid, "status": "queued", "to": fields["To"]})

            def telegram(self, method: str, fields: dict) -> None:
                if method == "sendMessage" and apis.take_refusal():
                    self.answer(500, {"ok": False, "description": "Internal"})
                    return
                apis.record(Sent("telegram", method, fields))
                results = {
                    "getMe": {"id": 123456, "is_bot": True, "first_name": "Amparo"},
                    "sendMessage": {
                        "message_id": len(apis.sent),
                        "date": int(time.time()),
                        "chat": {
                            "id": int(fields.get("chat_id", 0)),
                            "type": "private",
                        },
                        "text": fields.get("text", ""),
                    },
                    "getWebhookInfo": {
                        "url": "https://example.org/webhooks/telegram/webhook",
                        "has_custom_certificate": False,
                        "pending_update_count": 0,
                    },
                }
                self.answer(200, {"ok": True, "result": results.get(method, True)})

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        return self.url

    def record(self, sent: Sent) -> None:
        with self._lock:
            self.sent.append(sent)
            self._to.setdefault(sent.to, []).append(sent)

    def take_refusal(self) -> bool:
        with self._lock:
            if self.refuse:
                self.refuse -= 1
                return True
            return False
