"""Routing, the same for every channel: an open case takes the person's messages (stored
first, the bot silent), except that danger still gets the numbers at once."""

import asyncio

import pytest
from rasa.core.channels.channel import CollectingOutputChannel

from amparo.responses import responses
from channels.base import case_text
from channels.rest import RestInput


class Bot:
    def __init__(self):
        self.heard = []

    async def __call__(self, message):
        self.heard.append(message.text)


def route(text, sender="person-0001"):
    bot, output = Bot(), CollectingOutputChannel()
    routed = asyncio.run(
        RestInput().route(bot, sender=sender, text=text, output=output, metadata={})
    )
    return routed, bot.heard, [m["text"] for m in output.messages]


def open_case(store, **extra):
    return store.open_case(
        conversation_id="person-0001",
        channel="rest",
        language=extra.pop("language", "es"),
        category="violence",
        **extra,
    ).case


def test_without_a_case_the_bot_answers(store):
    assert route("hola") == (False, ["hola"], [])


def test_with_an_open_case_the_message_goes_to_the_case_and_the_bot_is_silent(store):
    case = open_case(store)
    assert route("sigo aquí, gracias") == (True, [], [])
    assert [m.text for m in store.messages(case.id)] == ["sigo aquí, gracias"]
    # someone else's conversation is not affected
    assert route("hola", sender="someone-else")[:2] == (False, ["hola"])


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        (
            "CO",
            lambda: responses().text(
                "utter_emergency_country",
                "en",
                country="Colombia",
                help_lines="123 (emergencies) · 155 (women's line)",
            ),
        ),
        (None, lambda: responses().text("utter_emergency", "en")),
    ],
)
def test_danger_while_nobody_has_joined_gets_the_numbers_at_once(
    store, country, expected
):
    case = open_case(store, language="en", country=country)
    routed, heard, replies = route("someone is following me right now")
    assert routed and heard == []
    assert replies == [expected()]
    assert store.open_case_of("person-0001").urgency == "urgent"
    assert store.messages(case.id)[-1].text == "someone is following me right now"


def test_danger_once_a_caseworker_is_there_is_left_to_them(store):
    case = open_case(store)
    store.create_caseworker(username="ana", password="x" * 12, teams=["gbv"])
    ana = store.caseworker_for(store.log_in("ana", "x" * 12))
    store.claim(case_id=case.id, caseworker=ana, notice="joined")
    assert route("me estan siguiendo") == (True, [], [])
    assert store.open_case_of("person-0001").urgency == "urgent"


def test_an_empty_message_to_a_case_is_not_stored(store):
    case = open_case(store)
    assert route("   ") == (True, [], [])
    assert store.messages(case.id) == []


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ('/share_location{"location": "14.906,-92.263"}', "📍 14.91, -92.26"),
        ("/share_location", "📍"),
        ('/find_service{"service_type": "shelter"}', "find_service"),
        ("/affirm", "affirm"),
        ("  hola  ", "hola"),
    ],
)
def test_what_a_caseworker_reads(sent, shown):
    assert case_text(sent) == shown


def test_a_slow_push_channel_is_a_delivery_failure_not_a_crash(monkeypatch):
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import channels.outbound as outbound

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self):
            time.sleep(1)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(outbound, "TIMEOUT_SECONDS", 0.2)
    sender = outbound.CallbackSender(f"http://127.0.0.1:{server.server_address[1]}/")
    with pytest.raises(outbound.DeliveryError, match="Timeout"):
        asyncio.run(sender.send("someone", "hola"))
    server.shutdown()
