"""The handoff through the running stack, in each language: disclosure → a reply that
believes → consent → case opened → the person's messages land in the case → the
caseworker's reply reaches the person's channel → close → the bot answers again. Also
"no" and "later", danger and self-harm with the numbers first, and a reply that fails
to send and is retried."""

from __future__ import annotations

import time
import uuid

import pytest

from amparo.responses import responses

DANGER_STARTS = (
    "Si estás en peligro",
    "If you are in danger",
    "Se você está em perigo",
)
CONSENT = {
    "es": ["Sí, ahora", "No", "Más tarde"],
    "en": ["Yes, now", "No", "Later"],
    "pt": ["Sim, agora", "Não", "Mais tarde"],
}
SCRIPT = {
    "es": {
        "disclosure": "mi pareja me pega y tengo miedo",
        "believed": "Gracias por confiar en mí",
        "yes": "si por favor",
        "while_open": "estoy en casa de una amiga",
        "caseworker": "Hola, soy Ana. Estoy aquí para escucharte.",
        "after": "hola",
    },
    "en": {
        "disclosure": "my husband beats me and i am scared",
        "believed": "Thank you for trusting me",
        "yes": "yes please",
        "while_open": "i am at a friend's house now",
        "caseworker": "Hi, I'm Ana. I'm here to listen.",
        "after": "hello",
    },
    "pt": {
        "disclosure": "meu marido me bate e eu tenho medo",
        "believed": "Obrigado por confiar em mim",
        "yes": "sim quero",
        "while_open": "estou na casa de uma amiga",
        "caseworker": "Oi, sou a Ana. Estou aqui para te ouvir.",
        "after": "oi",
    },
}


def new_sender() -> str:
    return uuid.uuid4().hex


def text(name: str, language: str, **values: str) -> str:
    return responses().text(name, language, **values)


def case_of(chat, sender):
    case = chat.desk.store.open_case_of(sender)
    assert case is not None, "no open case"
    return case


@pytest.mark.parametrize("language", ["es", "en", "pt"])
def test_disclosure_consent_case_caseworker_close_and_the_bot_again(chat, language):
    say, sender = SCRIPT[language], new_sender()
    believed, ask = chat.say(sender, say["disclosure"])
    assert believed.text.startswith(say["believed"]) and believed.language == language
    assert "?" not in believed.text  # nothing asked about what happened
    assert ask.text == text("utter_ask_handoff", language)
    assert [b["title"] for b in ask.buttons] == CONSENT[language]

    [opened] = chat.say(sender, say["yes"])
    assert opened.text == text("utter_handoff_opened", language)
    case = case_of(chat, sender)
    assert (case.category, case.urgency, case.language, case.channel) == (
        "violence",
        "high",
        language,
        "webchat",
    )

    # The bot is silent now: the message is stored in the case before the answer.
    assert chat.say_maybe(sender, say["while_open"]) == []
    ana = chat.desk.login("ana")
    status, seen = chat.desk("GET", f"/cases/{case.id}", ana)
    assert status == 200
    assert [m["text"] for m in seen["messages"] if m["author"] == "person"] == [
        say["disclosure"],
        say["while_open"],
    ]

    assert chat.desk("POST", f"/cases/{case.id}/claim", ana)[0] == 200
    assert chat.wait_for_team(sender) == [text("utter_caseworker_joined", language)]
    status, _ = chat.desk(
        "POST", f"/cases/{case.id}/messages", ana, {"text": say["caseworker"]}
    )
    assert status == 201
    assert chat.wait_for_team(sender) == [say["caseworker"]]
    status, seen = chat.desk("GET", f"/cases/{case.id}", ana)
    assert seen["messages"][-1]["status"] == "delivered"

    status, _ = chat.desk(
        "POST", f"/cases/{case.id}/close", ana, {"outcome": "support_given"}
    )
    assert status == 200
    assert chat.wait_for_team(sender) == [text("utter_handoff_closed", language)]
    again = chat.say(sender, say["after"])
    assert again[0].language == language
    assert chat.desk.store.open_case_of(sender) is None


@pytest.mark.parametrize(
    ("language", "disclosure", "answer", "reply"),
    [
        (
            "es",
            "un señor me toco en el albergue",
            "no gracias",
            "utter_handoff_declined",
        ),
        (
            "en",
            "the smuggler wants sex to let me cross",
            "no",
            "utter_handoff_declined",
        ),
        ("pt", "o patrão pegou meu passaporte", "não", "utter_handoff_declined"),
        (
            "es",
            "mi hermanito se perdio en la terminal",
            "mas tarde",
            "utter_handoff_later",
        ),
        ("en", "i am 14 and travelling alone", "not now", "utter_handoff_later"),
        ("pt", "perdi meu filho na fronteira", "depois", "utter_handoff_later"),
    ],
)
def test_no_and_later_are_respected_and_still_get_services(
    chat, language, disclosure, answer, reply
):
    sender = new_sender()
    *_, ask = chat.say(sender, disclosure)
    assert ask.text == text("utter_ask_handoff", language)
    [answered] = chat.say(sender, answer)
    assert answered.text == text(reply, language)
    payloads = [b["payload"] for b in answered.buttons]
    assert any("mhpss" in p for p in payloads)
    assert any("legal" in p for p in payloads)
    assert chat.desk.store.open_case_of(sender) is None
    # and a person can still be asked for, any time
    [opened] = chat.say(
        sender,
        {
            "es": "quiero hablar con una persona",
            "en": "i want to talk to a person",
            "pt": "quero falar com uma pessoa",
        }[language],
    )
    assert opened.text == text("utter_handoff_opened", language)


@pytest.mark.parametrize(
    ("language", "danger", "yes", "again"),
    [
        (
            "es",
            "me estan siguiendo ayuda",
            "si",
            "ahora estan afuera, me quieren matar",
        ),
        ("en", "i want to kill myself", "yes", "i want to die"),
        ("pt", "socorro estão me seguindo", "sim", "tem um homem armado me seguindo"),
    ],
)
def test_danger_and_self_harm_get_the_numbers_first_even_inside_a_case(
    chat, language, danger, yes, again
):
    sender = new_sender()
    numbers, ask = chat.say(sender, danger)
    assert numbers.text.startswith(DANGER_STARTS) and numbers.language == language
    assert ask.text == text("utter_ask_handoff", language)
    chat.say(sender, yes)
    case = case_of(chat, sender)
    assert case.urgency == "urgent"
    # Nobody has joined yet: danger written to the case still gets the numbers now.
    [now] = chat.say(sender, again)
    assert now.text.startswith(DANGER_STARTS)
    messages = chat.desk.store.messages(case.id)
    assert messages[-1].text == again


def test_the_numbers_are_the_country_s_once_the_place_is_known(chat):
    sender = new_sender()
    chat.say(sender, "necesito comida en cucuta")
    numbers, _ = chat.say(sender, "me estan siguiendo ayuda")
    assert numbers.text.startswith("Si estás en peligro ahora, llama ya. En Colombia:")
    assert "123" in numbers.text


def test_a_reply_that_fails_to_send_is_retried_on_the_person_s_channel(chat):
    sender = new_sender()
    status, _ = chat.post(
        {"sender": sender, "message": "quiero hablar con una persona"}, "callback"
    )
    assert status == 200
    assert chat.inbox.texts_for(sender) == [text("utter_handoff_opened", "es")]
    case = case_of(chat, sender)
    assert case.channel == "callback"

    ana = chat.desk.login("ana")
    chat.inbox.refuse = 1  # the channel's API is down for the first attempt
    assert chat.desk("POST", f"/cases/{case.id}/claim", ana)[0] == 200
    joined = text("utter_caseworker_joined", "es")
    deadline = time.monotonic() + 15
    while joined not in chat.inbox.texts_for(sender) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert chat.inbox.texts_for(sender)[-1] == joined
    status, seen = chat.desk("GET", f"/cases/{case.id}", ana)
    notice = seen["messages"][-1]
    assert (notice["status"], notice["attempts"]) == ("sent", 2)
    # The person's message on that channel goes to the case; nothing is sent back.
    before = len(chat.inbox.received)
    assert chat.post({"sender": sender, "message": "gracias"}, "callback")[0] == 200
    assert len(chat.inbox.received) == before
    assert chat.desk.store.messages(case.id)[-1].text == "gracias"
