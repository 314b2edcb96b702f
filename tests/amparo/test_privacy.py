"""Erasing a person from every store, retention, and what the notice says."""

import asyncio
import datetime as dt

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import func, select

from amparo import privacy
from amparo.cases import Case, CaseEvent, CaseMessage, CaseNote
from amparo.contacts import Contact, Notice, Offered, contacts
from amparo.responses import responses
from amparo.settings import settings
from bot.trackers import AmparoTrackerStore

NOW = dt.datetime.now(dt.timezone.utc)
DAY = 24 * 3600


@pytest.fixture(params=["sqlite", "postgresql"])
def trackers(request, tmp_path, monkeypatch):
    """Rasa's tracker store and the case store on databases of the test's own: the
    SQLite files of the embedded default, then PostgreSQL as at scale."""
    from amparo.handoff import case_store
    from amparo.sealing import ciphers

    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("AMPARO_CASES_DB", url)
        monkeypatch.setenv("AMPARO_TRACKER_DB", url)
    for cached in (settings, case_store, contacts, ciphers):
        cached.cache_clear()
    store = AmparoTrackerStore(Domain.empty())
    yield store
    store.engine.dispose()
    privacy._tracker_engine.cache_clear()
    case_store().engine.dispose()


def say(store, sender, *sessions):
    """Saves a conversation of one message per session: (text, timestamp) pairs."""
    events = []
    for text, at in sessions:
        events += [
            ActionExecuted("action_session_start", timestamp=at),
            SessionStarted(timestamp=at),
            ActionExecuted("action_listen", timestamp=at),
            UserUttered(text, timestamp=at),
        ]
    asyncio.run(store.save(DialogueStateTracker.from_events(sender, events)))


def events_of(sender):
    with privacy._history().connect() as connection:
        return connection.execute(
            select(func.count())
            .select_from(privacy.EVENTS)
            .where(privacy.EVENTS.c.sender_id == sender)
        ).scalar()


def count(store, model, **where):
    with store.session() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return session.scalar(query)


def person_with_everything(store, trackers, sender):
    """A person with two cases (one closed), messages, a note, a contact, a menu, the
    notice, and a conversation with the bot."""
    store.create_caseworker(username="sue", password="x" * 12, role="supervisor")
    sue = store.caseworker_for(store.log_in("sue", "x" * 12))
    first = store.open_case(
        conversation_id=sender,
        channel="sms",
        language="es",
        category="violence",
        context=["me pegan"],
    ).case
    store.claim(case_id=first.id, caseworker=sue, notice="hola")
    store.add_note(case_id=first.id, caseworker=sue, text="vive con el agresor")
    store.close(case_id=first.id, caseworker=sue, outcome="referred", notice="adiós")
    second = store.open_case(
        conversation_id=sender,
        channel="sms",
        language="es",
        category="request_human",
        context=["otra vez"],
        reopen_within=dt.timedelta(0),
    ).case
    contacts().conversation("sms", "+50688887777")
    address_id = contacts().conversation("sms", "+50688887777")
    contacts().set_menu(sender, "sms", Offered("a1b2c3", ("/greet", "/deny")))
    contacts().mark_noticed(sender)
    say(trackers, sender, ("me pegan", NOW.timestamp()))
    return sue, (first, second), address_id


def test_erasing_a_person_leaves_nothing_of_them_and_touches_nobody_else(
    trackers, store
):
    sender = "sms-0123456789abcdef"
    sue, cases, address_id = person_with_everything(store, trackers, sender)
    other = store.open_case(
        conversation_id="someone-else", channel="rest", language="en", category="danger"
    ).case
    say(trackers, "someone-else", ("help", NOW.timestamp()))

    erased = privacy.erase_person(sender)
    assert erased == privacy.Erased(cases=2, contacts=2, events=4)

    assert count(store, Case, conversation_id=sender) == 0
    for case in cases:
        for model in (CaseMessage, CaseNote, CaseEvent):
            assert count(store, model, case_id=case.id) == 0
    assert count(store, Notice, conversation_id=sender) == 0
    assert count(store, Contact, conversation_id=sender) == 0
    assert events_of(sender) == 0
    # the phone's own conversation (the address) goes when that id is erased
    assert privacy.erase_person(address_id).contacts == 1
    assert count(store, Contact) == 0
    # someone else keeps everything
    assert [c.id for c in store.queue(sue)] == [other.id]
    assert events_of("someone-else") == 4
    # the audit trail says it happened, and nothing about whom
    audit = store.events(limit=5)
    assert (
        audit[-2].action == "erased" and audit[-2].detail == "2 case(s), by the person"
    )
    assert sender not in " ".join(str(e.detail) for e in store.events(limit=500))


def test_a_supervisor_erasing_is_audited_with_their_name(trackers, store):
    sender = "rest-person-0001"
    sue, cases, _ = person_with_everything(store, trackers, sender)
    conversation = store.conversation_of(cases[1].id, sue)
    assert privacy.erase_person(conversation, sue).cases == 2
    last = store.events(limit=1)[0]
    assert (last.action, last.caseworker_id, last.detail) == (
        "erased",
        sue.id,
        "2 case(s)",
    )


def test_only_a_supervisor_can_erase(store):
    from amparo.cases import Forbidden

    store.create_caseworker(username="ana", password="x" * 12, teams=["gbv"])
    ana = store.caseworker_for(store.log_in("ana", "x" * 12))
    case = store.open_case(
        conversation_id="p-1", channel="rest", language="es", category="violence"
    ).case
    with pytest.raises(Forbidden):
        store.conversation_of(case.id, ana)


def test_erasing_before_rasa_ever_ran_is_fine(store, tmp_path, monkeypatch):
    monkeypatch.setenv("AMPARO_TRACKER_DB", f"sqlite:///{tmp_path / 'none.db'}")
    settings.cache_clear()
    assert privacy.erase_person("nobody") == privacy.Erased(0, 0, 0)
    assert privacy.retention(30).events == 0


def test_retention_deletes_what_is_older_than_the_limit_and_keeps_open_cases(
    trackers, store
):
    store.create_caseworker(username="sue", password="x" * 12, role="supervisor")
    sue = store.caseworker_for(store.log_in("sue", "x" * 12))

    def case(sender, closed_days_ago=None):
        opened = store.open_case(
            conversation_id=sender, channel="rest", language="es", category="violence"
        ).case
        if closed_days_ago is not None:
            store.close(case_id=opened.id, caseworker=sue, outcome="other", notice="x")
            with store.session() as session, session.begin():
                session.get(Case, opened.id).closed_at = NOW - dt.timedelta(
                    days=closed_days_ago
                )
        return opened

    old_closed, recent_closed = case("old", 40), case("recent", 5)
    still_open = case("open")
    for sender, days in (("old", 40), ("open", 40), ("fresh", 1)):
        contacts().mark_noticed(sender)
        with store.session() as session, session.begin():
            session.get(Notice, sender).sent_at = NOW - dt.timedelta(days=days)
    # the Rasa history: silent for 40 days; an old session then a new one; fresh
    say(trackers, "old", ("hola", NOW.timestamp() - 40 * DAY))
    say(
        trackers,
        "open",
        ("hola", NOW.timestamp() - 40 * DAY),
        ("sigo aqui", NOW.timestamp() - DAY),
    )
    say(trackers, "fresh", ("hola", NOW.timestamp() - DAY))

    gone = privacy.retention(30)
    assert gone.cases == 1 and gone.contacts == 1 and gone.events == 8

    assert count(store, Case, id=old_closed.id) == 0
    assert count(store, CaseMessage, case_id=old_closed.id) == 0
    assert {c.id for c in store.queue(sue, include_closed=True)} == {
        recent_closed.id,
        still_open.id,
    }
    assert not contacts().noticed("old")
    assert contacts().noticed("open")  # their case is open: kept
    assert contacts().noticed("fresh")
    assert (events_of("old"), events_of("open"), events_of("fresh")) == (0, 4, 4)
    with privacy._history().connect() as connection:
        oldest = connection.execute(select(func.min(privacy.EVENTS.c.timestamp)))
        assert oldest.scalar() >= NOW.timestamp() - 30 * DAY
    assert store.events(limit=1)[0].action == "expired"


def test_the_retention_command_says_what_it_deleted(trackers, store, capsys):
    assert privacy.main(["retention", "--days", "7"]) == 0
    assert capsys.readouterr().out.startswith("retention (7 days): deleted 0 closed")
    with pytest.raises(SystemExit):
        privacy.main(["retention", "--days", "0"])


def test_the_notice_says_the_limit_and_the_operators_statement(tmp_path, monkeypatch):
    values = privacy.notice_values("pt")
    assert values == {
        "days": "90",
        "statement": responses().text("utter_sharing_statement", "pt"),
    }
    own = tmp_path / "statement.yml"
    own.write_text(
        "es: Nunca compartimos nada con nadie.\n"
        "en: We never share anything with anyone.\n"
        "pt: Nunca compartilhamos nada com ninguém.\n"
    )
    monkeypatch.setenv("AMPARO_SHARING_STATEMENT", str(own))
    monkeypatch.setenv("AMPARO_RETENTION_DAYS", "30")
    settings.cache_clear()
    assert privacy.notice_values("en") == {
        "days": "30",
        "statement": "We never share anything with anyone.",
    }
    text = responses().text("utter_privacy_notice", "en", **privacy.notice_values("en"))
    assert "delete it after 30 days. We never share anything" in text


@pytest.mark.parametrize(
    "content", ["es: solo uno\n", "[1, 2]", "es: a\nen: b\npt: " + "x" * 500, ": :"]
)
def test_a_bad_statement_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.yml"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"bad\.yml|AMPARO_SHARING_STATEMENT"):
        privacy.load_statement(path)


def test_case_texts_are_encrypted_at_rest_and_keys_rotate(
    trackers, store, monkeypatch, capsys
):
    from cryptography.fernet import Fernet
    from sqlalchemy import text as sql

    from amparo.sealing import UNREADABLE, ciphers
    from tests.conftest import TEST_DATA_KEY, TEST_ID_KEY

    case = store.open_case(
        conversation_id="p-1",
        channel="rest",
        language="es",
        category="violence",
        context=["mi esposo me pega"],
    ).case
    store.create_caseworker(username="sue", password="x" * 12, role="supervisor")
    sue = store.caseworker_for(store.log_in("sue", "x" * 12))
    store.add_note(case_id=case.id, caseworker=sue, text="vive con el agresor")
    address_id = contacts().conversation("sms", "+50688887777")

    def raw():
        with store.engine.connect() as connection:
            return [
                value
                for query in (
                    "SELECT text FROM case_message",
                    "SELECT text FROM case_note",
                    "SELECT address FROM contact",
                )
                for (value,) in connection.execute(sql(query))
            ]

    stored = raw()
    assert all(value.startswith("gAAAAA") for value in stored)
    assert not any("pega" in v or "agresor" in v or "8888" in v for v in stored)
    assert [m.text for m in store.messages(case.id)] == ["mi esposo me pega"]

    # a text written before encryption at rest is read as it is, then sealed
    with store.engine.begin() as connection:
        connection.execute(sql("UPDATE case_note SET text = 'escrito antes'"))
    assert store.notes(case.id)[0].text == "escrito antes"

    # a new key first: old texts still read; rotate-keys seals them with the new one
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("AMPARO_DATA_KEYS", f"{new_key},{TEST_DATA_KEY}")
    for cached in (settings, ciphers, contacts):
        cached.cache_clear()
    assert privacy.main(["rotate-keys"]) == 0
    assert "2 message(s) and note(s), 1 address(es)" in capsys.readouterr().out
    assert privacy.main(["rotate-keys"]) == 0
    assert "0 message(s) and note(s), 0 address(es)" in capsys.readouterr().out
    new_only = Fernet(new_key.encode())
    assert all(new_only.decrypt(v.encode()) for v in raw())

    # the old key dropped: everything still reads
    monkeypatch.setenv("AMPARO_DATA_KEYS", new_key)
    for cached in (settings, ciphers, contacts):
        cached.cache_clear()
    assert [m.text for m in store.messages(case.id)] == ["mi esposo me pega"]
    assert store.notes(case.id)[0].text == "escrito antes"
    assert contacts().address_of(address_id) == "+50688887777"
    # and a text no configured key opens says so instead of failing the page
    monkeypatch.setenv("AMPARO_DATA_KEYS", Fernet.generate_key().decode())
    for cached in (settings, ciphers):
        cached.cache_clear()
    assert store.notes(case.id)[0].text == UNREADABLE
    # rotating then leaves those texts as they are and says so, sealing the rest
    store.add_note(case_id=case.id, caseworker=sue, text="nota nueva")
    with store.engine.begin() as connection:
        connection.execute(
            sql("UPDATE case_note SET text = 'escrito antes' WHERE id = 2")
        )
    assert privacy.main(["rotate-keys"]) == 1
    out, err = capsys.readouterr()
    assert "1 message(s) and note(s)" in out
    assert "2 message(s) or note(s) no configured key opens" in err
    assert [n.text for n in store.notes(case.id)] == [UNREADABLE, "escrito antes"]
    assert TEST_ID_KEY  # the pseudonym key never changes in a rotation
