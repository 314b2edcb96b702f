"""Routing, the same for every channel: an open case takes the person's messages (stored
first, the bot silent), except that danger still gets the numbers at once."""

import asyncio

import pytest
from rasa.core.channels.channel import CollectingOutputChannel

from amparo.responses import responses
from channels.base import case_text
from channels.render import Menu
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


# --- number replies and the phone channels' delivery handling ----------------------

SHELTER = '/find_service{"service_type": "shelter"}'
FOOD = '/find_service{"service_type": "food"}'


class Offering(Bot):
    """A bot whose every turn offers two choices."""

    async def __call__(self, message):
        await super().__call__(message)
        await message.output_channel.send_text_with_buttons(
            message.sender_id,
            "¿Qué tipo de ayuda buscas? Escríbelo o elige una opción.",
            [
                {"title": "Albergue", "payload": SHELTER},
                {"title": "Comida", "payload": FOOD},
            ],
        )


def lookalike_turn(bot, text, sender="person-0001"):
    from channels.webchat import LookalikeOutput

    output = LookalikeOutput("whatsapp")
    asyncio.run(
        RestInput().route(bot, sender=sender, text=text, output=output, metadata={})
    )
    return output.messages


def test_a_number_reply_picks_from_the_last_menu_of_that_person(store):
    bot = Offering()
    [shown] = lookalike_turn(bot, "hola")
    assert "1 - Albergue\n2 - Comida" in shown["text"] and "buttons" not in shown
    lookalike_turn(bot, "2")
    lookalike_turn(bot, "7")  # not on the menu: read as written
    lookalike_turn(bot, "1", sender="someone-else")  # had no menu
    assert bot.heard == ["hola", FOOD, "7", "1"]


def test_inside_a_case_a_number_is_what_the_person_wrote(store):
    bot = Offering()
    lookalike_turn(bot, "hola")
    case = open_case(store)
    assert lookalike_turn(bot, "1") == []
    assert [m.text for m in store.messages(case.id)] == ["1"]


class Phone:
    """A phone channel on the shared base, with a recording sender."""

    def __init__(self, fail: int = 0):
        from channels.base import PhoneInput, PhoneOutput

        self.sent, self.fail = [], fail
        phone = self

        class Sender:
            async def send(self, recipient, text, buttons=None):
                from channels.outbound import DeliveryError

                if phone.fail:
                    phone.fail -= 1
                    raise DeliveryError("refused")
                phone.sent.append((recipient, text))

        class Input(PhoneInput):
            @classmethod
            def name(cls):
                return "sms"

            def output_for(self):
                return PhoneOutput("sms", Sender(), Menu())

        self.input = Input()

    def take(self, bot, delivery_id, text="hola"):
        async def run():
            answer = await self.input.take(
                bot, delivery_id=delivery_id, address="+5215512345678", text=text
            )
            await asyncio.gather(*self.input._turns)
            return answer

        return asyncio.run(run())


def test_a_delivery_is_answered_once(store):
    phone, bot = Phone(), Offering()
    assert phone.take(bot, "SM1") is None
    assert phone.take(bot, "SM1") is None
    assert bot.heard == ["hola"] and len(phone.sent) == 1
    recipient, text = phone.sent[0]
    assert recipient.startswith("sms-") and "5512345678" not in recipient
    assert "1 - Albergue" in text


def test_a_turn_that_fails_is_refused_and_its_redelivery_taken(store):
    class Broken(Bot):
        async def __call__(self, message):
            raise RuntimeError("the bot is down")

    phone = Phone()
    answer = phone.take(Broken(), "SM2")
    assert answer.status == 503
    assert phone.take(Offering(), "SM2") is None
    assert len(phone.sent) == 1


def test_a_slow_turn_is_acknowledged_in_time_and_finishes(store, monkeypatch):
    import channels.base

    monkeypatch.setattr(channels.base, "ANSWER_WITHIN_SECONDS", 0.05)

    class Slow(Offering):
        async def __call__(self, message):
            await asyncio.sleep(0.3)
            await super().__call__(message)

    phone = Phone()
    assert phone.take(Slow(), "SM3") is None
    assert len(phone.sent) == 1  # finished in the background


def test_a_reply_is_retried_then_given_up_without_replaying_the_turn(store):
    phone = Phone(fail=2)
    assert phone.take(Offering(), "SM4") is None
    assert len(phone.sent) == 1  # the third try went out
    phone = Phone(fail=5)
    assert phone.take(Offering(), "SM5") is None
    assert phone.sent == []


def test_a_quick_number_waits_for_the_menu_it_answers(store):
    from channels.webchat import LookalikeOutput

    class Slow(Offering):
        async def __call__(self, message):
            if message.text == "hola":
                await asyncio.sleep(0.2)
            await super().__call__(message)

    async def both():
        bot, channel = Slow(), RestInput()

        async def say(text):
            await channel.route(
                bot,
                sender="person-0001",
                text=text,
                output=LookalikeOutput("sms"),
                metadata={},
            )

        first = asyncio.ensure_future(say("hola"))
        await asyncio.sleep(0.05)  # "2" arrives while "hola" is still being answered
        await asyncio.gather(first, say("2"))
        return bot.heard

    assert asyncio.run(both()) == ["hola", FOOD]
