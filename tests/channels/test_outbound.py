"""The phone senders against fake Twilio and Telegram APIs on 127.0.0.1."""

import asyncio
import dataclasses

import pytest

from amparo.contacts import contacts
from amparo.settings import settings
from channels.outbound import (
    DeliveryError,
    TelegramSender,
    TwilioSender,
    missing,
    push_senders,
)
from tests.fakes import TELEGRAM_TOKEN, TWILIO_SID, TWILIO_TOKEN, FakeApis

PHONE = "+5215512345678"


def sent_by(sender, recipient, text, buttons=None):
    """Sends as a server does, then closes the sender as the server's stop does."""

    async def send_and_close():
        try:
            await sender.send(recipient, text, buttons)
        finally:
            await sender.close()

    asyncio.run(send_and_close())


@pytest.fixture(scope="module")
def apis():
    fake = FakeApis()
    fake.serve()
    return fake


@pytest.fixture
def config(apis):
    apis.clear()
    return dataclasses.replace(
        settings(),
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=TWILIO_TOKEN,
        twilio_sms_from="+15005550006",
        twilio_whatsapp_from="+14155238886",
        twilio_api_url=apis.url,
        telegram_token=TELEGRAM_TOKEN,
        telegram_secret="a-secret",
        telegram_api_url=apis.url,
    )


def test_whatsapp_goes_to_the_kept_address_from_our_number(apis, config):
    person = contacts().conversation("whatsapp", f"whatsapp:{PHONE}")
    sent_by(TwilioSender("whatsapp", config), person, "Hola 👋 «ayuda»")
    (sent,) = apis.messages()
    assert sent.fields["To"] == f"whatsapp:{PHONE}"
    assert sent.fields["From"] == "whatsapp:+14155238886"
    assert sent.text == "Hola 👋 «ayuda»"  # WhatsApp shows emoji and quotes as they are


def test_sms_drops_what_would_double_the_price_and_splits_long_texts(apis, config):
    person = contacts().conversation("sms", PHONE)
    text = "Albergue «Belén» — abierto 📍 " + "palabra " * 300
    sent_by(TwilioSender("sms", config), person, text)
    sent = apis.messages(PHONE)
    assert len(sent) == 2 and all(len(s.text) <= 1600 for s in sent)
    assert sent[0].text.startswith('Albergue "Belén" - abierto palabra')
    assert sent[0].fields["From"] == "+15005550006"


def test_a_refusal_or_an_unknown_person_is_a_delivery_error(apis, config):
    person = contacts().conversation("sms", PHONE)
    apis.refuse = 1
    with pytest.raises(DeliveryError, match="Twilio refused"):
        sent_by(TwilioSender("sms", config), person, "hola")
    with pytest.raises(DeliveryError, match="no address"):
        sent_by(TwilioSender("sms", config), "sms-unknown", "hola")
    assert apis.messages() == []


def test_a_closed_port_is_a_delivery_error(config):
    person = contacts().conversation("sms", PHONE)
    config = dataclasses.replace(config, twilio_api_url="http://127.0.0.1:9")
    with pytest.raises(DeliveryError):
        sent_by(TwilioSender("sms", config), person, "hola")


def test_telegram_buttons_are_an_inline_keyboard(apis, config):
    person = contacts().conversation("telegram", "777000111")
    buttons = [("Albergue", '/find_service{"service_type": "shelter"}'), ("Más", "#2")]
    sent_by(TelegramSender(config), person, "¿Qué buscas?", buttons)
    (sent,) = apis.messages("777000111")
    rows = sent.markup["inline_keyboard"]
    assert [r[0]["callback_data"] for r in rows] == [b[1] for b in buttons]


def test_a_telegram_location_request_is_a_one_tap_reply_keyboard(apis, config):
    person = contacts().conversation("telegram", "777000111")
    buttons = [("📍 Enviar mi ubicación", "/share_location")]
    sent_by(TelegramSender(config), person, "¿Dónde estás?", buttons)
    (sent,) = apis.messages("777000111")
    assert sent.markup["keyboard"][0][0]["request_location"] is True
    assert sent.markup["one_time_keyboard"] is True


def test_telegram_refusal_is_a_delivery_error(apis, config):
    person = contacts().conversation("telegram", "777000111")
    apis.refuse = 1
    with pytest.raises(DeliveryError):
        sent_by(TelegramSender(config), person, "hola")


def test_only_configured_channels_get_a_sender(config):
    assert set(push_senders(config)) == {"sms", "whatsapp", "telegram"}
    bare = dataclasses.replace(config, twilio_sms_from="", telegram_secret="")
    assert set(push_senders(bare)) == {"whatsapp"}
    assert missing(bare, "sms") == ["TWILIO_SMS_FROM"]
    assert missing(bare, "telegram") == ["TELEGRAM_WEBHOOK_SECRET"]


def test_a_sender_closed_at_server_stop_lets_go_of_its_connections(apis, config):
    """Its server stopped, a sender closes what it kept open (an unclosed aiohttp
    session is a warning at exit); a send after that opens them again."""
    sms = TwilioSender("sms", config)
    telegram = TelegramSender(config)
    person = contacts().conversation("sms", PHONE)
    chat = contacts().conversation("telegram", "777000111")

    async def twice() -> None:
        await sms.send(person, "uno")
        session = sms.client().http_client.session
        await sms.close()
        assert session.closed
        await telegram.send(chat, "uno")
        await telegram.close()
        await sms.send(person, "dos")
        await telegram.send(chat, "dos")
        await sms.close()
        await telegram.close()

    asyncio.run(twice())
    assert [m.text for m in apis.messages(PHONE)] == ["uno", "dos"]
    assert [m.text for m in apis.messages("777000111")] == ["uno", "dos"]


def test_the_webhook_is_registered_with_its_secret(apis, config, monkeypatch):
    from channels import telegram

    monkeypatch.setattr(telegram, "settings", lambda: config)
    answer = asyncio.run(
        telegram.set_webhook("https://bot.example.org/webhooks/telegram/webhook")
    )
    assert answer.startswith("webhook: https://")
    [registered] = [s for s in apis.sent if s.method == "setWebhook"]
    assert registered.fields["secret_token"] == "a-secret"
    assert registered.fields["url"].endswith("/webhooks/telegram/webhook")
    with pytest.raises(SystemExit, match="https"):
        asyncio.run(telegram.set_webhook("http://bot.example.org/webhook"))
