"""The tracker store: Rasa's SQL store on AMPARO_TRACKER_DB, which keeps nothing more
of a conversation once the person erased their data."""

import asyncio

import pytest
from rasa.core.brokers.broker import EventBroker
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from amparo.settings import settings
from bot.trackers import AmparoTrackerStore

DOMAIN = Domain.from_dict({"slots": {"erased": {"type": "bool", "mappings": []}}})


def test_a_conversation_is_stored_until_the_person_erases_it(tmp_path, monkeypatch):
    monkeypatch.setenv("AMPARO_TRACKER_DB", f"sqlite:///{tmp_path / 'tracker.db'}")
    settings.cache_clear()
    store = AmparoTrackerStore(DOMAIN)
    said = [ActionExecuted("action_listen"), UserUttered("hola")]
    asyncio.run(store.save(DialogueStateTracker.from_events("p-1", said, DOMAIN.slots)))
    asyncio.run(store.save(DialogueStateTracker.from_events("p-2", said, DOMAIN.slots)))
    assert len(asyncio.run(store.retrieve("p-1")).events) == 2
    assert (tmp_path / "tracker.db").exists()

    erased = [
        *said,
        UserUttered("borrar mis datos"),
        ActionExecuted("action_erase_data"),
        BotUttered("Listo"),
        SlotSet("erased", True),
    ]
    tracker = DialogueStateTracker.from_events("p-1", erased, DOMAIN.slots)
    asyncio.run(store.save(tracker))
    assert asyncio.run(store.retrieve("p-1")) is None
    assert asyncio.run(store.retrieve("p-2")) is not None


def test_the_history_reads_and_stores_as_rasas_own_sql_store(tmp_path, monkeypatch):
    """The store's own statements against Rasa's ORM queries on the same file: the
    last session read (or all of them), new events appended after the stored ones."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import SessionStarted

    monkeypatch.setenv("AMPARO_TRACKER_DB", f"sqlite:///{tmp_path / 'tracker.db'}")
    settings.cache_clear()
    ours = AmparoTrackerStore(DOMAIN)
    rasas = SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "tracker.db"))

    def session(at: float, text: str) -> list:
        return [
            ActionExecuted("action_session_start", timestamp=at),
            SessionStarted(timestamp=at),
            ActionExecuted("action_listen", timestamp=at),
            UserUttered(text, {"name": "greet"}, timestamp=at + 1),
        ]

    first = DialogueStateTracker.from_events("p-1", session(100, "hola"), DOMAIN.slots)
    asyncio.run(ours.save(first))
    tracker = asyncio.run(ours.retrieve("p-1"))
    for event in [BotUttered("Hola", timestamp=102), *session(200, "otra vez")]:
        tracker.update(event)
    asyncio.run(ours.save(tracker))  # the second session, in the same turn
    tracker = asyncio.run(ours.retrieve("p-1"))
    tracker.update(BotUttered("Hola de nuevo", timestamp=202))
    asyncio.run(ours.save(tracker))

    def dump(tracker: DialogueStateTracker) -> list[dict]:
        return [e.as_dict() for e in tracker.events]

    latest = asyncio.run(ours.retrieve("p-1"))
    assert dump(latest) == dump(asyncio.run(rasas.retrieve("p-1")))
    said = [e.as_dict().get("text") for e in latest.events]
    assert said[3:] == ["otra vez", "Hola de nuevo"]
    full = asyncio.run(ours.retrieve_full_tracker("p-1"))
    assert dump(full) == dump(asyncio.run(rasas.retrieve_full_tracker("p-1")))
    assert len(full.events) == 10
    stored = [e.as_dict() for e in full.events]
    assert [e["timestamp"] for e in stored] == sorted(e["timestamp"] for e in stored)
    with rasas.session_scope() as rows:
        intents = [r.intent_name for r in rows.query(rasas.SQLEvent).order_by("id")]
    assert intents.count("greet") == 2


class Broker(EventBroker):
    """An event broker that keeps what it is given."""

    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, event: dict) -> None:
        self.published.append(event)


def test_a_conversation_erased_during_its_turn_is_not_stored_again(
    tmp_path, monkeypatch
):
    from amparo import privacy

    monkeypatch.setenv("AMPARO_TRACKER_DB", f"sqlite:///{tmp_path / 'tracker.db'}")
    settings.cache_clear()
    broker = Broker()
    store = AmparoTrackerStore(DOMAIN, event_broker=broker)
    said = [ActionExecuted("action_listen"), UserUttered("hola")]
    asyncio.run(store.save(DialogueStateTracker.from_events("p-1", said, DOMAIN.slots)))
    tracker = asyncio.run(store.retrieve("p-1"))  # the turn begins
    assert privacy.erase_history("p-1") == 2  # a supervisor erases meanwhile
    tracker.update(UserUttered("necesito comida"))
    published = len(broker.published)
    asyncio.run(store.save(tracker))  # the turn ends
    assert asyncio.run(store.retrieve("p-1")) is None
    assert len(broker.published) == published  # nor is it sent anywhere
    # a new conversation, never stored before, is stored as usual
    fresh = DialogueStateTracker.from_events("p-2", said, DOMAIN.slots)
    asyncio.run(store.save(fresh))
    assert len(asyncio.run(store.retrieve("p-2")).events) == 2
    assert [e["sender_id"] for e in broker.published] == ["p-1", "p-1", "p-2", "p-2"]


def test_the_database_is_set_in_one_place_only():
    with pytest.raises(ValueError, match="AMPARO_TRACKER_DB"):
        AmparoTrackerStore(DOMAIN, host="postgresql://elsewhere/rasa")
    with pytest.raises(ValueError, match="db"):
        AmparoTrackerStore(DOMAIN, db="rasa.db")


def test_with_the_database_away_the_turn_fails_instead_of_starting_afresh(
    tmp_path, monkeypatch
):
    """Rasa would take an unreadable history for a new conversation and keep an
    unstorable one in memory: here both fail the turn, which is done again later."""
    from rasa.core.agent import Agent
    from rasa.core.tracker_store import FailSafeTrackerStore
    from sqlalchemy.exc import OperationalError

    from bot import trackers

    monkeypatch.setenv("AMPARO_TRACKER_DB", f"sqlite:///{tmp_path / 'tracker.db'}")
    settings.cache_clear()
    for patched in ("on_tracker_store_error", "on_tracker_store_retrieve_error"):
        # Rasa's own put back after the test
        monkeypatch.setattr(
            FailSafeTrackerStore, patched, vars(FailSafeTrackerStore)[patched]
        )
    trackers.install()
    store = Agent._create_tracker_store(AmparoTrackerStore(DOMAIN), DOMAIN)
    said = [ActionExecuted("action_listen"), UserUttered("hola")]
    asyncio.run(store.save(DialogueStateTracker.from_events("p-1", said, DOMAIN.slots)))
    (tmp_path / "tracker.db").unlink()
    (tmp_path / "tracker.db").mkdir()  # no longer a database file
    store._tracker_store.engine.dispose()
    with pytest.raises(OperationalError):
        asyncio.run(store.retrieve("p-1"))
    with pytest.raises(OperationalError):
        asyncio.run(
            store.save(DialogueStateTracker.from_events("p-1", said, DOMAIN.slots))
        )
    assert store._fallback_tracker_store is None  # nothing kept in memory


def test_the_event_loop_goes_on_while_the_database_is_busy(tmp_path, monkeypatch):
    """Another process holds SQLite's write lock: the turn's save waits for it (busy
    timeout) in a worker thread, and other people's turns on the event loop go on
    meanwhile; here the loop lets the other process go half a second in."""
    import sqlite3
    import threading

    path = tmp_path / "tracker.db"
    monkeypatch.setenv("AMPARO_TRACKER_DB", f"sqlite:///{path}")
    settings.cache_clear()
    store = AmparoTrackerStore(DOMAIN)
    said = [ActionExecuted("action_listen"), UserUttered("hola")]
    tracker = DialogueStateTracker.from_events("p-1", said, DOMAIN.slots)
    asyncio.run(store.save(tracker))  # the table exists
    locked, release = threading.Event(), threading.Event()

    def other_process() -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(4)  # by itself if the loop never does (SQLite waits 5 s)
        connection.execute("ROLLBACK")
        connection.close()

    holder = threading.Thread(target=other_process)
    holder.start()
    locked.wait(5)

    async def ticks_while_saving() -> int:
        ticks = 0
        tracker.update(UserUttered("sigo aqui"))
        loop = asyncio.get_running_loop()
        release_at = loop.time() + 0.5
        saving = asyncio.ensure_future(store.save(tracker))
        while not saving.done():
            await asyncio.sleep(0.01)
            ticks += 1
            if loop.time() >= release_at:
                release.set()
        await saving
        return ticks

    ticks = asyncio.run(ticks_while_saving())
    holder.join()
    assert ticks >= 10  # about 50; the loop held by the save would count one or two
    assert len(asyncio.run(store.retrieve("p-1")).events) == 3
