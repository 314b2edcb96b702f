"""The privacy promises, through the running stack: the notice once, after the first
answer; "delete my data" leaving nothing in any store; quick exit; a supervisor's
erasure from the desk; no phone number in any store or log."""

from __future__ import annotations

import sqlite3
import uuid

from amparo.contacts import Keys
from amparo.privacy import notice_values
from amparo.responses import responses
from tests.conftest import TEST_DATA_KEY, TEST_ID_KEY
from tests.e2e.test_phone_channels import new_phone, text, whatsapp


def notice(language: str) -> str:
    return responses().text("utter_privacy_notice", language, **notice_values(language))


def rows(chat, database: str, sql: str, *values) -> int:
    with sqlite3.connect(chat.tmp / database) as connection:
        return connection.execute(sql, values).fetchone()[0]


def kept_about(chat, person: str) -> dict[str, int]:
    """How many rows each store holds about one conversation."""
    return {
        "cases": rows(
            chat,
            "cases.db",
            "SELECT count(*) FROM 'case' WHERE conversation_id=?",
            person,
        ),
        "contacts": rows(
            chat,
            "cases.db",
            "SELECT count(*) FROM contact WHERE conversation_id=?",
            person,
        ),
        "notices": rows(
            chat,
            "cases.db",
            "SELECT count(*) FROM privacy_notice WHERE conversation_id=?",
            person,
        ),
        "events": rows(
            chat, "tracker.db", "SELECT count(*) FROM events WHERE sender_id=?", person
        ),
    }


def test_the_notice_comes_once_after_the_first_answer(chat):
    sender = uuid.uuid4().hex
    first = chat.say(sender, "hola", notice=True)
    assert first[0].text.startswith("¡Hola!")
    assert first[-1].text == notice("es")
    assert "90 días" in first[-1].text and "autoridades migratorias" in first[-1].text
    later = chat.say(sender, "necesito comida", notice=True)
    assert notice("es") not in [r.text for r in later]


def test_someone_in_danger_gets_the_numbers_before_the_notice(chat):
    sender = uuid.uuid4().hex
    replies = [
        r.text for r in chat.say(sender, "socorro me quieren matar", notice=True)
    ]
    assert replies[0].startswith(responses().text("utter_emergency", "es")[:40])
    assert replies[-1] == notice("es")


def test_delete_my_data_on_whatsapp_leaves_nothing_in_any_store(chat):
    phone = new_phone()
    to = f"whatsapp:{phone}"
    person = Keys(TEST_ID_KEY, (TEST_DATA_KEY,)).pseudonym("whatsapp", to)
    whatsapp(chat, phone, "mi pareja me pega y tengo miedo")
    assert chat.apis.wait(to, 3, everything=True)[-1].text == notice("es")
    whatsapp(chat, phone, "si")
    assert chat.apis.wait(to, 3)[-1].text == text("utter_handoff_opened", "es")
    case = chat.desk.store.open_case_of(person)
    sue = chat.desk.login("sue")
    assert (
        chat.desk("POST", f"/cases/{case.id}/close", sue, {"outcome": "other"})[0]
        == 200
    )
    assert chat.apis.wait(to, 4)[-1].text == text("utter_handoff_closed", "es")
    assert all(kept_about(chat, person).values())

    whatsapp(chat, phone, "BORRAR")
    asked = chat.apis.wait(to, 5)[-1].text
    assert asked.startswith(text("utter_confirm_erase", "es"))
    whatsapp(chat, phone, "1")  # "Sí, borrar todo"
    sent = [s.text for s in chat.apis.wait(to, 6)]
    assert sent[-1] == text("utter_data_erased", "es"), " | ".join(s[:50] for s in sent)
    assert kept_about(chat, person) == dict.fromkeys(
        ("cases", "contacts", "notices", "events"), 0
    )
    # starting again is starting from scratch, notice included
    whatsapp(chat, phone, "hola")
    again = [s.text for s in chat.apis.wait(to, 9, everything=True)]
    assert again[-2].startswith("¡Hola!") and again[-1] == notice("es")


def test_no_means_nothing_is_erased(chat):
    sender = uuid.uuid4().hex
    chat.say(sender, "hi")
    asked = chat.say(sender, "please delete my data")
    assert asked[0].text == text("utter_confirm_erase", "en")
    assert chat.say(sender, "no")[0].text == text("utter_erase_cancelled", "en")
    assert kept_about(chat, sender)["events"] > 0


def test_quick_exit_says_how_to_hide_the_chat_and_forgets_the_search(chat):
    sender = uuid.uuid4().hex
    chat.say(sender, "oi")
    asked = chat.say(sender, "preciso de abrigo")
    assert asked[0].language == "pt"
    assert [r.text for r in chat.say(sender, "SAIR")] == [text("utter_restart", "pt")]
    # the search was forgotten: a place now starts a new search, it does not end one
    assert chat.say(sender, "olá")[0].text.startswith("Oi!")


def test_a_supervisor_erases_a_person_from_the_desk(chat):
    sender = uuid.uuid4().hex
    chat.say(sender, "quiero hablar con una persona")
    case = chat.desk.store.open_case_of(sender)
    ana, sue = chat.desk.login("ana"), chat.desk.login("sue")
    assert chat.desk("POST", f"/cases/{case.id}/erase", ana, {})[0] == 403
    status, answer = chat.desk("POST", f"/cases/{case.id}/erase", sue, {})
    assert status == 200 and answer["erased"]["cases"] == 1
    assert answer["erased"]["events"] > 0
    assert kept_about(chat, sender) == dict.fromkeys(
        ("cases", "contacts", "notices", "events"), 0
    )
    assert chat.desk("GET", f"/cases/{case.id}", sue)[0] == 404
