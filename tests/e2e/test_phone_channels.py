"""WhatsApp, SMS and Telegram through the running stack: signed webhooks in, replies
out through fake Twilio and Telegram APIs on 127.0.0.1 (tests/fakes.py)."""

from __future__ import annotations

import datetime as dt
import json
import random
import urllib.error
import urllib.parse
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import CallbackQuery, Chat, Location, Message, PhotoSize, Update, User
from twilio.request_validator import RequestValidator

from amparo.contacts import Keys
from amparo.privacy import notice_values
from amparo.responses import responses
from channels.render import segments, sms_text
from tests.conftest import TEST_DATA_KEY, TEST_ID_KEY
from tests.e2e.conftest import (
    PUBLIC_URL,
    SMS_NUMBER,
    TELEGRAM_SECRET,
    WHATSAPP_NUMBER,
)
from tests.fakes import TWILIO_TOKEN

TAPACHULA = ("14.9063", "-92.2631")
WHEN = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)


def text(name: str, language: str, **values: str) -> str:
    return responses().text(name, language, **values)


def new_phone() -> str:
    return "+52155" + "".join(random.choices("0123456789", k=8))


def new_sid() -> str:
    return "SM" + "".join(random.choices("0123456789abcdef", k=32))


def post(url: str, data: bytes, headers: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def twilio(chat, channel: str, fields: dict, *, sign_url=None, signature=None):
    """POSTs a webhook as Twilio does, signed for the public URL."""
    path = f"/webhooks/{channel}/webhook"
    if signature is None:
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(
            sign_url or PUBLIC_URL + path, fields
        )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature:
        headers["X-Twilio-Signature"] = signature
    return post(chat.base + path, urllib.parse.urlencode(fields).encode(), headers)


def whatsapp(chat, phone: str, body: str = "", **fields) -> int:
    fields = {
        "MessageSid": fields.pop("sid", None) or new_sid(),
        "AccountSid": "AC" + "0" * 32,
        "From": f"whatsapp:{phone}",
        "To": f"whatsapp:{WHATSAPP_NUMBER}",
        "Body": body,
        "NumMedia": "0",
        **fields,
    }
    status, answer = twilio(chat, "whatsapp", fields)
    assert status == 200 and b"<Response" in answer, (status, answer)
    return status


def test_whatsapp_menus_are_numbered_and_a_number_picks(chat):
    phone = new_phone()
    to = f"whatsapp:{phone}"
    whatsapp(chat, phone, "hola")
    [greeting] = chat.apis.wait(to)
    assert greeting.fields["From"] == f"whatsapp:{WHATSAPP_NUMBER}"
    assert greeting.text.startswith("¡Hola! Soy un asistente automático")
    assert "1 - Buscar un servicio" in greeting.text
    assert greeting.text.endswith(text("utter_choose_by_number", "es"))
    assert "/find_service" not in greeting.text  # never a raw payload

    whatsapp(chat, phone, "1")
    asked = chat.apis.wait(to, 2)[-1].text
    assert asked.startswith(text("utter_ask_service_type", "es"))
    assert "1 - Albergue" in asked

    whatsapp(chat, phone, "1")
    where = chat.apis.wait(to, 3)[-1].text
    assert where == text("utter_where_are_you", "es")  # the pin button left out

    whatsapp(chat, phone, Latitude=TAPACHULA[0], Longitude=TAPACHULA[1])
    results = chat.apis.wait(to, 4)[3:]
    assert results and "Tapachula" in " ".join(r.text for r in results)


@pytest.mark.parametrize(
    "forgery",
    ["forged", "missing", "wrong url", "extra parameter", "another token"],
)
def test_only_what_twilio_signed_for_the_public_url_is_read(chat, forgery):
    phone, sid = new_phone(), new_sid()
    fields = {
        "MessageSid": sid,
        "From": f"whatsapp:{phone}",
        "To": f"whatsapp:{WHATSAPP_NUMBER}",
        "Body": "hola",
    }
    validator = RequestValidator(TWILIO_TOKEN)
    path = "/webhooks/whatsapp/webhook"
    if forgery == "forged":
        status, _ = twilio(chat, "whatsapp", fields, signature="bm90IGEgc2lnbmF0dXJl")
    elif forgery == "missing":
        status, _ = twilio(chat, "whatsapp", fields, signature="")
    elif forgery == "wrong url":
        status, _ = twilio(chat, "whatsapp", fields, sign_url=chat.base + path)
    elif forgery == "extra parameter":
        signature = validator.compute_signature(PUBLIC_URL + path, fields)
        status, _ = twilio(
            chat, "whatsapp", {**fields, "Body": "hola", "X": "1"}, signature=signature
        )
    else:
        other = RequestValidator("another-token").compute_signature(
            PUBLIC_URL + path, fields
        )
        status, _ = twilio(chat, "whatsapp", fields, signature=other)
    assert status == 403
    assert chat.apis.messages(f"whatsapp:{phone}") == []
    # Nothing was taken: the real delivery with that id is answered.
    whatsapp(chat, phone, "hola", sid=sid)
    assert len(chat.apis.wait(f"whatsapp:{phone}")) == 1


def test_a_repeated_message_sid_gets_no_second_reply(chat):
    phone, sid = new_phone(), new_sid()
    whatsapp(chat, phone, "oi", sid=sid)
    whatsapp(chat, phone, "oi", sid=sid)
    whatsapp(chat, phone, "oi", sid=sid)
    assert len(chat.apis.wait(f"whatsapp:{phone}", 2, seconds=3)) == 1


def test_a_photo_gets_a_kind_reply_in_the_person_s_language(chat):
    phone = new_phone()
    whatsapp(chat, phone, "oi, tudo bem?")
    chat.apis.wait(f"whatsapp:{phone}")
    whatsapp(
        chat, phone, "", NumMedia="1", MediaContentType0="image/jpeg", MediaUrl0="x"
    )
    last = chat.apis.wait(f"whatsapp:{phone}", 2)[-1]
    assert last.text == text("utter_media_unreadable", "pt")


def test_an_empty_body_is_answered_kindly(chat):
    phone = new_phone()
    whatsapp(chat, phone, "")
    [reply] = chat.apis.wait(f"whatsapp:{phone}")
    assert reply.text.startswith(text("utter_unreadable", "es")[:20])


def test_sms_is_plain_short_text_from_the_sms_number(chat):
    phone = new_phone()
    status, _ = twilio(
        chat,
        "sms",
        {"MessageSid": new_sid(), "From": phone, "To": SMS_NUMBER, "Body": "hola"},
    )
    assert status == 200
    [greeting] = chat.apis.wait(phone)
    assert greeting.fields["From"] == SMS_NUMBER
    assert greeting.text.startswith("¡Hola! Soy un asistente automático")
    assert not any(ord(ch) > 0xFFFF for ch in greeting.text)  # no emoji
    assert segments(greeting.text) <= 5  # its own shorter greeting (domain)


def test_no_phone_number_or_case_text_in_the_logs_or_any_store(chat):
    phone = new_phone()
    whatsapp(chat, phone, "mi esposo me pega")
    chat.apis.wait(f"whatsapp:{phone}", 3)
    whatsapp(chat, phone, "si")
    chat.apis.wait(f"whatsapp:{phone}", 4)
    whatsapp(chat, phone, "vivo con él y sus hermanos")  # to the case
    digits = phone.lstrip("+")
    for name in ("rasa.log", "actions.log", "desk.log"):
        log = (chat.tmp / name).read_text()
        assert digits[-8:] not in log, name
        assert "me pega" not in log and "sus hermanos" not in log, name
    for database in ("cases.db", "tracker.db"):
        stored = b"".join(
            path.read_bytes()
            for path in chat.tmp.glob(f"{database}*")
            if path.is_file()
        )
        assert digits[-8:].encode() not in stored, database
    # what is written to a case is encrypted at rest (Rasa's history is not: it is
    # erased with the person and by retention)
    cases = b"".join(p.read_bytes() for p in chat.tmp.glob("cases.db*"))
    assert b"sus hermanos" not in cases and b"me pega" not in cases


def test_a_caseworker_reply_reaches_whatsapp_and_the_bot_resumes(chat):
    phone = new_phone()
    to = f"whatsapp:{phone}"
    whatsapp(chat, phone, "mi pareja me pega y tengo miedo")
    ask = chat.apis.wait(to, 2)[-1].text
    assert ask.startswith(text("utter_ask_handoff", "es"))
    assert "1 - Sí, ahora" in ask
    whatsapp(chat, phone, "1")
    assert chat.apis.wait(to, 3)[-1].text == text("utter_handoff_opened", "es")
    person = Keys(TEST_ID_KEY, (TEST_DATA_KEY,)).pseudonym("whatsapp", to)
    case = chat.desk.store.open_case_of(person)
    assert case is not None and case.channel == "whatsapp"
    assert (
        chat.desk.store.messages(case.id)[0].text == "mi pareja me pega y tengo miedo"
    )

    whatsapp(chat, phone, "2")  # inside a case a number is just what they wrote
    assert chat.desk.store.messages(case.id)[-1].text == "2"
    ana = chat.desk.login("ana")
    assert chat.desk("POST", f"/cases/{case.id}/claim", ana)[0] == 200
    status, _ = chat.desk(
        "POST", f"/cases/{case.id}/messages", ana, {"text": "Hola, soy Ana."}
    )
    assert status == 201
    texts = [s.text for s in chat.apis.wait(to, 5)]
    assert texts[-2:] == [text("utter_caseworker_joined", "es"), "Hola, soy Ana."]
    status, _ = chat.desk(
        "POST", f"/cases/{case.id}/close", ana, {"outcome": "support_given"}
    )
    assert status == 200
    assert chat.apis.wait(to, 6)[-1].text == text("utter_handoff_closed", "es")
    whatsapp(chat, phone, "hola")
    assert chat.apis.wait(to, 7)[-1].text.startswith("¡Hola!")


# --- Telegram ---------------------------------------------------------------------

USER = User(id=5, first_name="M", is_bot=False, language_code="es")


def telegram(chat, update: dict, secret: str | None = TELEGRAM_SECRET) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    status, _ = post(
        chat.base + "/webhooks/telegram/webhook", json.dumps(update).encode(), headers
    )
    return status


def new_chat_id() -> int:
    return random.randint(10**8, 10**9)


def tg_update(chat_id: int, update_id: int | None = None, **kinds) -> dict:
    return Update(update_id=update_id or random.randint(1, 2**31), **kinds).to_dict()


def tg_message(chat_id: int, **fields) -> Message:
    return Message(
        message_id=random.randint(1, 10**6),
        date=WHEN,
        chat=fields.pop("chat", Chat(id=chat_id, type="private")),
        from_user=USER,
        **fields,
    )


def test_telegram_refuses_a_wrong_or_missing_secret(chat):
    chat_id = new_chat_id()
    update = tg_update(chat_id, message=tg_message(chat_id, text="hola"))
    assert telegram(chat, update, secret=None) == 403
    assert telegram(chat, update, secret="wrong") == 403
    assert chat.apis.messages(str(chat_id)) == []


def test_telegram_start_buttons_location_and_a_tap(chat):
    chat_id = new_chat_id()
    to = str(chat_id)
    assert (
        telegram(chat, tg_update(chat_id, message=tg_message(chat_id, text="/start")))
        == 200
    )
    [greeting] = chat.apis.wait(to)
    assert greeting.text.startswith("¡Hola! Soy un asistente automático")
    keyboard = greeting.markup["inline_keyboard"]
    assert keyboard[0][0]["callback_data"] == "/find_service"

    query = CallbackQuery(
        id="tap-1",
        from_user=USER,
        chat_instance="ci",
        data='/find_service{"service_type": "shelter"}',
        message=tg_message(chat_id, text="..."),
    )
    assert telegram(chat, tg_update(chat_id, callback_query=query)) == 200
    where = chat.apis.wait(to, 2)[-1]
    assert where.text == text("utter_where_are_you", "es")
    button = where.markup["keyboard"][0][0]
    assert button["request_location"] is True
    assert any(
        s.method == "answerCallbackQuery" and s.fields["callback_query_id"] == "tap-1"
        for s in chat.apis.sent
    )

    pin = Location(latitude=float(TAPACHULA[0]), longitude=float(TAPACHULA[1]))
    assert (
        telegram(chat, tg_update(chat_id, message=tg_message(chat_id, location=pin)))
        == 200
    )
    results = chat.apis.wait(to, 3)[2:]
    assert "Tapachula" in " ".join(r.text for r in results)


def test_telegram_photo_edit_group_duplicate_and_garbage(chat):
    chat_id = new_chat_id()
    to = str(chat_id)
    photo = (PhotoSize("f", "u", 10, 10),)
    telegram(chat, tg_update(chat_id, message=tg_message(chat_id, text="hola")))
    chat.apis.wait(to)
    update = tg_update(chat_id, message=tg_message(chat_id, photo=photo))
    assert telegram(chat, update) == 200
    assert telegram(chat, update) == 200  # delivered again: no second reply
    assert chat.apis.wait(to, 2)[-1].text == text("utter_media_unreadable", "es")

    edited = tg_update(chat_id, edited_message=tg_message(chat_id, text="hola!!"))
    group = tg_update(
        chat_id,
        message=tg_message(chat_id, text="hola", chat=Chat(id=-100, type="group")),
    )
    for ignored in (edited, group, {"update_id": 3, "poll": {"x": 1}}, {"junk": []}):
        assert telegram(chat, ignored) == 200
    status, _ = post(
        chat.base + "/webhooks/telegram/webhook",
        b"{not json at all",
        {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
    )
    assert status == 200
    assert len(chat.apis.wait(to, 3, seconds=2)) == 2
    assert chat.apis.messages("-100") == []


# --- fuzzing the webhooks over HTTP: anything, even signed, never gets a 5xx -------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=15,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.dictionaries(
        st.sampled_from(["message", "edited_message", "callback_query", "poll"]),
        st.fixed_dictionaries(
            {"chat": st.fixed_dictionaries({"id": st.integers(), "type": JSON})},
            optional={"text": JSON, "date": JSON, "message_id": JSON, "data": JSON},
        ),
        max_size=2,
    ),
    st.integers(min_value=-(2**40), max_value=2**40),
)
def test_fuzzed_telegram_updates_get_no_server_error(chat, kinds, update_id):
    assert telegram(chat, {"update_id": update_id, **kinds}) < 500


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.dictionaries(
        st.sampled_from(["Body", "NumMedia", "Latitude", "Longitude", "MediaUrl0"]),
        st.text(max_size=60),
        max_size=5,
    ),
    st.sampled_from(["whatsapp", "sms"]),
)
def test_fuzzed_signed_twilio_requests_get_no_server_error(chat, fields, channel):
    phone = new_phone()
    fields = {
        "MessageSid": new_sid(),
        "From": f"whatsapp:{phone}" if channel == "whatsapp" else phone,
        **fields,
    }
    status, _ = twilio(chat, channel, fields)
    assert status < 500


def test_the_local_chat_shows_a_reply_as_sms_would(chat):
    sender = "looks-like-" + new_sid()[2:14]
    body = {"sender": sender, "message": "hola", "looks_like": "sms"}
    status, [greeting, notice] = chat.post(body)
    assert status == 200 and "buttons" not in greeting
    assert notice["text"] == sms_text(
        text("utter_privacy_notice", "es", **notice_values("es"))
    )
    assert greeting["text"].startswith("¡Hola! Soy un asistente automático")
    assert "1 - Buscar un servicio" in greeting["text"]
    assert greeting["segments"] == segments(greeting["text"]) <= 5
    status, [asked] = chat.post({**body, "message": "1"})
    assert asked["text"].startswith(text("utter_ask_service_type", "es"))
