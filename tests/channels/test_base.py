"""Routing, the same for every channel: an open case takes the person's messages (stored
first, the bot silent), except that danger still gets the numbers at once."""

import asyncio

import pytest
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from amparo.contacts import contacts
from amparo.privacy import notice_values
from amparo.responses import DOMAIN as DOMAIN_DIR
from amparo.responses import responses
from channels.base import case_text
from channels.render import Menu
from channels.rest import RestInput

DOMAIN = Domain.load(str(DOMAIN_DIR))


class Bot:
    """Rasa's turn: hears the message and stores the conversation as a turn leaves
    it, listening (unless the turn erased the person)."""

    def __init__(self, agent=None, erases=False):
        self.heard, self.senders, self.agent, self.erases = [], [], agent, erases

    async def __call__(self, message):
        self.heard.append(message.text)
        self.senders.append(message.sender_id)
        if self.agent is None or self.erases:
            return
        store = self.agent.tracker_store
        tracker = await store.retrieve(message.sender_id)
        tracker = tracker or DialogueStateTracker(message.sender_id, DOMAIN.slots)
        tracker.update_with_events(
            [
                ActionExecuted("action_listen"),
                UserUttered(message.text),
                SlotSet("language", self.agent.language),
                ActionExecuted("utter_greet"),
                BotUttered("¡Hola!"),
                ActionExecuted("action_listen"),
            ],
            DOMAIN,
        )
        await store.save(tracker)


def route(text, sender="person-0001", agent=None, erases=False):
    bot, output = Bot(agent, erases), CollectingOutputChannel()
    routed = asyncio.run(
        RestInput().route(
            bot, sender=sender, text=text, output=output, metadata={}, agent=agent
        )
    )
    return routed, bot.heard, [m["text"] for m in output.messages]


class Agent:
    """Rasa's agent as the channels use it for the privacy notice: its lock store,
    tracker store and response generator (the real domain's)."""

    def __init__(self, works=True, language="es"):
        self.language = language
        self.lock_store = InMemoryLockStore()
        self.tracker_store = InMemoryTrackerStore(DOMAIN)
        self.nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
        if not works:  # e.g. a domain without the response: nothing is said
            self.nlg = TemplatedNaturalLanguageGenerator({})


def notice(language):
    return responses().text("utter_privacy_notice", language, **notice_values(language))


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


def test_the_privacy_notice_follows_the_first_answer_once():
    agent = Agent(language="pt")
    assert route("oi", agent=agent) == (False, ["oi"], [notice("pt")])
    assert route("abrigo", agent=agent) == (False, ["abrigo"], [])
    # in the conversation as words only: the state the policies read is unchanged
    tracker = asyncio.run(agent.tracker_store.retrieve("person-0001"))
    said = [e for e in tracker.events if isinstance(e, BotUttered)]
    assert [e.text for e in said].count(notice("pt")) == 1
    assert tracker.latest_action_name == "action_listen"
    assert ActionExecuted("utter_privacy_notice") not in tracker.events
    # each person gets their own
    assert route("hi", sender="someone-else", agent=agent)[2] == [notice("pt")]


def test_a_notice_that_was_not_said_is_tried_again_next_turn():
    assert route("hola", agent=Agent(works=False))[2] == []
    assert not contacts().noticed("person-0001")
    assert route("hola", agent=Agent())[2] == [notice("es")]
    assert contacts().noticed("person-0001")


def test_no_notice_after_a_turn_that_erased_the_person():
    assert route("sí", agent=Agent(), erases=True)[2] == []
    assert not contacts().noticed("person-0001")


def test_no_notice_over_a_caseworker(store):
    open_case(store)
    assert route("hola", agent=Agent()) == (True, [], [])


@pytest.mark.parametrize(
    ("word", "language", "reply"),
    [
        ("SALIR", "es", "utter_restart"),
        ("Sair", "pt", "utter_restart"),
        ("DELETE", "en", "utter_erase_in_case"),
    ],
)
def test_a_command_inside_a_case_is_answered_and_the_caseworker_reads_it(
    store, word, language, reply
):
    case = open_case(store, language=language)
    assert route(word) == (True, [], [responses().text(reply, language)])
    assert store.messages(case.id)[-1].text == word
    # a sentence with the word in it is just a message
    assert route("quiero salir de esta casa")[2] == []


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

    def __init__(self, fail: int = 0, refuse: str | None = None):
        from channels.base import PhoneInput, PhoneOutput

        self.sent, self.fail, self.refuse = [], fail, refuse
        phone = self

        class Sender:
            async def send(self, recipient, text, buttons=None):
                raise AssertionError("a turn's replies go to the address it came from")

            async def deliver(self, address, text, buttons=None):
                from channels.outbound import DeliveryError

                if phone.refuse is not None and text == phone.refuse:
                    raise DeliveryError("refused")
                if phone.fail:
                    phone.fail -= 1
                    raise DeliveryError("refused")
                phone.sent.append((address, text))

        class Input(PhoneInput):
            @classmethod
            def name(cls):
                return "sms"

            def output_for(self, conversation, address):
                return PhoneOutput("sms", Sender(), Menu(), conversation, address)

        self.input = Input()

    def take(self, bot, delivery_id, text="hola", agent=None):
        async def run():
            answer = await self.input.take(
                bot,
                delivery_id=delivery_id,
                address="+5215512345678",
                text=text,
                agent=agent,
            )
            await asyncio.gather(*self.input._turns)
            return answer

        return asyncio.run(run())

    def replay(self, bot, until=lambda: False, seconds=10.0):
        """Runs the journal's replay until ``until()`` holds (at most ``seconds``),
        then lets its turns finish."""
        from types import SimpleNamespace

        async def run():
            app = SimpleNamespace(ctx=SimpleNamespace(agent=None))
            replaying = asyncio.ensure_future(self.input.replay(bot, app))
            deadline = asyncio.get_running_loop().time() + seconds
            while not until() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
            replaying.cancel()
            await asyncio.gather(*self.input._turns, return_exceptions=True)

        asyncio.run(run())


def test_a_channel_closes_its_sender_when_its_server_stops():
    closed = []

    class Closing:
        async def close(self):
            closed.append(True)

    phone = Phone()
    phone.input.ready, phone.input.sender = True, Closing()
    blueprint = phone.input.blueprint(on_new_message=None)
    for future in blueprint._future_listeners:  # Sanic registers them at start
        if future.event == "after_server_stop":
            asyncio.run(future.listener(None, None))
    assert closed == [True]


def test_a_delivery_is_answered_once(store):
    phone, bot = Phone(), Offering()
    assert phone.take(bot, "SM1") is None
    assert phone.take(bot, "SM1") is None
    assert bot.heard == ["hola"] and len(phone.sent) == 1
    assert bot.senders[0].startswith("sms-") and "5512345678" not in bot.senders[0]
    address, text = phone.sent[0]
    assert address == "+5215512345678"
    assert "1 - Albergue" in text


def test_a_notice_the_phone_did_not_take_is_tried_again_next_turn(store):
    agent = Agent()
    phone, bot = Phone(refuse=notice("es")), Offering(agent=agent)
    phone.take(bot, "SM1", agent=agent)
    assert [text for _, text in phone.sent][-1].startswith("¿Qué tipo de ayuda")
    assert not contacts().noticed(bot.senders[0])
    phone.refuse = None
    phone.take(bot, "SM2", text="comida", agent=agent)
    assert [text for _, text in phone.sent][-1] == notice("es")
    assert contacts().noticed(bot.senders[0])


def test_the_answer_to_an_erasing_turn_still_reaches_the_person(store):
    from amparo.contacts import NoAddress, contacts

    class Erasing(Bot):
        async def __call__(self, message):
            await super().__call__(message)
            contacts().erase(message.sender_id)
            await message.output_channel.send_text_message(
                message.sender_id, "Listo, borramos tus datos."
            )

    phone, bot = Phone(), Erasing()
    assert phone.take(bot, "SM1", text="BORRAR") is None
    assert phone.sent == [("+5215512345678", "Listo, borramos tus datos.")]
    with pytest.raises(NoAddress):
        contacts().address_of(bot.senders[0])


def test_a_turn_that_fails_is_acknowledged_and_started_again(store, monkeypatch):
    from amparo.settings import settings

    monkeypatch.setenv("AMPARO_REPLAY_AFTER_SECONDS", "0.2")
    settings.cache_clear()

    class Flaky(Offering):
        failures = 1

        async def __call__(self, message):
            if self.failures:
                self.failures -= 1
                raise RuntimeError("the tracker store is away")
            await super().__call__(message)

    phone, bot = Phone(), Flaky()
    assert phone.take(bot, "SM2") is None  # journalled: the platform must not resend
    assert phone.sent == []
    phone.replay(bot, until=lambda: phone.sent)
    assert bot.heard == ["hola"] and len(phone.sent) == 1
    phone.replay(bot, seconds=0.5)  # done: not again
    assert len(phone.sent) == 1


def test_a_turn_that_always_fails_is_given_up(store, monkeypatch, caplog):
    from amparo.settings import settings

    monkeypatch.setenv("AMPARO_REPLAY_AFTER_SECONDS", "0.1")
    settings.cache_clear()

    class Broken(Bot):
        async def __call__(self, message):
            await super().__call__(message)
            raise RuntimeError("the bot is down")

    phone, bot = Phone(), Broken()
    phone.take(bot, "SM2")
    phone.replay(bot, until=lambda: "given up" in caplog.text)
    assert bot.heard == ["hola"] * 3
    assert "1 message(s) given up" in caplog.text
    assert "5512345678" not in caplog.text and "hola" not in caplog.text


def test_a_turn_whose_process_died_is_taken_up_by_another(store, monkeypatch):
    import datetime as dt

    from amparo.contacts import Inbound, Pending, contacts
    from amparo.settings import settings

    monkeypatch.setenv("AMPARO_REPLAY_AFTER_SECONDS", "0.2")
    settings.cache_clear()

    def renewed(seconds_ago):
        with store.session() as session, session.begin():
            entry = session.get(Pending, ("sms", "SM7"))
            entry.claimed_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(
                seconds=seconds_ago
            )

    # taken by a process killed before its turn was done
    inbound = Inbound("sms", "SM7", "+5215512345678", "hola", None)
    assert contacts().take_delivery(inbound, "elsewhere:99")
    phone, bot = Phone(), Offering()
    renewed(-3600)  # as if still renewed by its process: not taken over
    phone.replay(bot, seconds=0.5)
    assert bot.heard == []
    renewed(60)  # its process stopped renewing it a minute ago
    phone.replay(bot, until=lambda: phone.sent)
    assert bot.heard == ["hola"] and len(phone.sent) == 1


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


def test_a_channel_does_not_start_with_a_statement_the_notice_cannot_say(
    tmp_path, monkeypatch
):
    from amparo.settings import settings

    statement = tmp_path / "statement.yml"
    statement.write_text("es: No compartimos tus datos.\nen: We do not share.\n")
    monkeypatch.setenv("AMPARO_SHARING_STATEMENT", str(statement))
    settings.cache_clear()
    with pytest.raises(ValueError, match="'pt' must be the statement's text"):
        RestInput()


def test_one_turn_at_a_time_per_person_through_the_shared_lock_store(store):
    """Two Rasa processes share the lock store (Redis at scale): a person's turns on
    either one run one after the other, under a key of their own."""
    from channels.webchat import LookalikeOutput

    class Recording(InMemoryLockStore):
        def __init__(self):
            super().__init__()
            self.keys = []

        def issue_ticket(self, conversation_id, lock_lifetime=60):
            self.keys.append(conversation_id)
            return super().issue_ticket(conversation_id, lock_lifetime)

    agent = Agent()
    agent.lock_store = Recording()
    steps = []

    class Slow(Bot):
        async def __call__(self, message):
            steps.append(f"start {message.text}")
            await asyncio.sleep(0.1)
            steps.append(f"end {message.text}")

    async def both():
        await asyncio.gather(
            *(
                RestInput().route(
                    Slow(),
                    sender="person-0001",
                    text=text,
                    output=LookalikeOutput("whatsapp"),
                    agent=agent,
                )
                for text in ("hola", "comida")
            )
        )

    asyncio.run(both())
    assert steps in (
        ["start hola", "end hola", "start comida", "end comida"],
        ["start comida", "end comida", "start hola", "end hola"],
    )
    assert agent.lock_store.keys.count("person-0001:turn") == 2
