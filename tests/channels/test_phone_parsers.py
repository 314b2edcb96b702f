"""The Twilio and Telegram webhook parsers: real payloads, odd ones, and fuzzing."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import CallbackQuery, Chat, Location, Message, PhotoSize, Update, User

from channels.base import MEDIA_PAYLOAD
from channels.telegram import parse_update
from channels.twilio import parse_form

SID = "SM" + "a" * 32
WHEN = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)
PERSON = User(id=42, first_name="R", is_bot=False, language_code="pt-BR")
PRIVATE = Chat(id=42, type="private")


def form(**fields):
    return {"MessageSid": SID, "From": "whatsapp:+5511987654321", **fields}


def test_a_whatsapp_text():
    inbound = parse_form(form(Body="  oi, preciso de abrigo "))
    assert (inbound.sid, inbound.address, inbound.text) == (
        SID,
        "whatsapp:+5511987654321",
        "oi, preciso de abrigo",
    )
    assert inbound.calling_code == "55"  # the country's code, nothing more


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("+573001234567", "57"),
        ("whatsapp:+18095551234", "1809"),
        ("+33612345678", None),
    ],
)
def test_only_the_country_calling_code_is_passed_on(number, code):
    assert parse_form(form(From=number, Body="hola")).calling_code == code


def test_a_whatsapp_location_pin_is_rounded():
    inbound = parse_form(form(Latitude="4.60971234", Longitude="-74.08175678"))
    assert inbound.text == '/share_location{"location": "4.61,-74.08"}'


def test_media_without_text_gets_the_media_payload_and_a_caption_is_read():
    assert parse_form(form(NumMedia="1", Body="")).text == MEDIA_PAYLOAD
    assert parse_form(form(NumMedia="1", Body="mira")).text == "mira"
    assert parse_form(form(NumMedia="x")).text == ""  # an empty body: read as such


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"From": "+5215512345678"},
        {"MessageSid": SID},
        {"MessageSid": "not-a-sid", "From": "+5215512345678"},
        {"MessageSid": SID, "From": "<script>"},
    ],
)
def test_what_is_not_a_message_is_refused(fields):
    with pytest.raises(ValueError):
        parse_form(fields)


def update(**kinds) -> dict:
    return Update(update_id=1001, **kinds).to_dict()


def message(**fields) -> Message:
    return Message(
        message_id=7,
        date=WHEN,
        chat=fields.pop("chat", PRIVATE),
        from_user=PERSON,
        **fields,
    )


def test_a_telegram_text_with_its_language_hint():
    inbound = parse_update(update(message=message(text="oi")))
    assert (inbound.update_id, inbound.chat_id, inbound.text) == (1001, "42", "oi")
    assert inbound.language_code == "pt-BR" and inbound.callback_id is None


@pytest.mark.parametrize(
    ("typed", "payload"),
    [
        ("/start", "/greet"),
        ("/start deep-link", "/greet"),
        ("/help@AmparoBot", "/ask_help"),
        ("/language", "/choose_language"),
        ("/otra", "/otra"),
    ],
)
def test_commands(typed, payload):
    assert parse_update(update(message=message(text=typed))).text == payload


def test_a_telegram_location():
    location = Location(longitude=-92.26312, latitude=14.90634)
    inbound = parse_update(update(message=message(location=location)))
    assert inbound.text == '/share_location{"location": "14.91,-92.26"}'


def test_a_photo_or_sticker_gets_the_media_payload():
    photo = (PhotoSize("f", "u", 10, 10),)
    assert parse_update(update(message=message(photo=photo))).text == MEDIA_PAYLOAD


def test_a_button_tap():
    query = CallbackQuery(
        id="cb1",
        from_user=PERSON,
        chat_instance="c",
        data='/find_service{"service_type": "shelter"}',
        message=message(text="¿Qué buscas?"),
    )
    inbound = parse_update(update(callback_query=query))
    assert inbound.text == '/find_service{"service_type": "shelter"}'
    assert (inbound.callback_id, inbound.chat_id) == ("cb1", "42")


@pytest.mark.parametrize(
    "data",
    [
        update(edited_message=message(text="editado")),
        update(message=message(text="hola a todos", chat=Chat(id=-5, type="group"))),
        update(),
        {"update_id": "1"},
        {"update_id": 1, "message": {"text": "no chat"}},
        {"update_id": 1, "message": "nonsense"},
        [],
        None,
    ],
)
def test_what_needs_no_answer(data):
    assert parse_update(data) is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
TELEGRAM_KEYS = st.sampled_from(
    [
        "message",
        "edited_message",
        "callback_query",
        "chat",
        "text",
        "location",
        "from",
        "id",
        "type",
        "data",
        "date",
        "message_id",
        "photo",
        "latitude",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(TELEGRAM_KEYS, JSON, max_size=6),
    st.integers(),
    st.sampled_from([None, "message", "callback_query", "edited_message"]),
)
def test_fuzzed_telegram_updates_never_raise(body, update_id, nest):
    data = {"update_id": update_id, nest: body} if nest else body
    inbound = parse_update(data)
    assert inbound is None or isinstance(inbound.text, str)


TWILIO_KEYS = st.sampled_from(
    ["MessageSid", "From", "Body", "NumMedia", "Latitude", "Longitude", "To", "X"]
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(TWILIO_KEYS, st.text(max_size=40), max_size=8),
    st.booleans(),
)
def test_fuzzed_twilio_forms_are_read_or_refused_with_a_reason(fields, real):
    if real:
        fields = {**fields, "MessageSid": SID, "From": "+5215512345678"}
    try:
        inbound = parse_form(fields)
    except ValueError:
        return
    assert inbound.text is not None and len(inbound.text) <= 4096
