"""Rasa's SQL tracker store on the database AMPARO_TRACKER_DB names (SQLite here,
PostgreSQL at scale), which stores nothing more of a conversation once the person has
erased their data.

endpoints.yml: ``tracker_store: {type: bot.trackers.AmparoTrackerStore}``.

When the database is away, Rasa 3.6 would go on quietly: a history it cannot read is
taken as a new conversation (so "sí" after "may I pass you to a caseworker?" means
nothing), and one it cannot store is kept in this process's memory only. Here the
turn fails instead, and is done again once the database is back (a phone message from
its journal, channels/base.py; a web chat message by its client).

The engine is amparo.cases.make_engine's, as erasure and retention use for the same
database: connections pooled (Rasa's SQLite engine opened a new connection for every
read and write of a turn), a server's checked before use (a database that was away
costs no turn once it is back), and on SQLite WAL with a busy timeout.

A turn reads the history with one statement and stores its events with two (Rasa's
count of the stored ones, then one insert of all the new ones), each made once. Rasa
built both queries anew through its ORM session on every turn and inserted the events
one by one: under load that was a fifth of the Rasa server's time (bench/load.py,
profiled with py-spy). Same rows, same order, same count as Rasa's. They run in a
worker thread, not on the event loop's as Rasa runs them: the loop goes on with other
people's turns while the database commits (7 % of a Rasa process's main thread with
two processes under load).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker, TrackerEventDiffEngine
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy import bindparam, delete, func, or_, select
from sqlalchemy.orm import sessionmaker

from amparo.cases import make_engine
from amparo.settings import settings

ERASED_SLOT = "erased"
STORED = "_amparo_was_stored"
DATABASE_KEYS = {"dialect", "db", "port", "username", "password", "login_db", "query"}


class AmparoTrackerStore(SQLTrackerStore):
    def __init__(self, domain: Any = None, host: str | None = None, **kwargs: Any):
        # The database is AMPARO_TRACKER_DB's only: erasure and retention
        # (amparo.privacy) read the same setting, so they can never miss it.
        placed = sorted(set(kwargs) & DATABASE_KEYS | ({"url"} if host else set()))
        if placed:
            raise ValueError(
                f"endpoints.yml tracker_store: {', '.join(placed)} not taken here; "
                "set AMPARO_TRACKER_DB to the database URL instead"
            )
        super().__init__(domain, host=settings().tracker_db, **kwargs)
        self.engine.dispose()
        self.engine = make_engine(settings().tracker_db)
        self.sessionmaker = sessionmaker(bind=self.engine)
        events = self.SQLEvent.__table__
        of_sender = events.c.sender_id == bindparam("sender_id")
        # Rasa's _event_query: the events since the last SessionStarted, or all of
        # them when there is none; in the order they were stored.
        session_start = (
            select(func.max(events.c.timestamp))
            .where(of_sender, events.c.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        this_session = or_(events.c.timestamp >= session_start, session_start.is_(None))
        everything = select(events.c.data).where(of_sender).order_by(events.c.id)
        self._read = {True: everything, False: everything.where(this_session)}
        self._count = (
            select(func.count()).select_from(events).where(of_sender, this_session)
        )
        self._insert = events.insert()
        self._erase = delete(events).where(of_sender)

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        query = self._read[fetch_events_from_all_sessions]
        rows = await asyncio.to_thread(self._rows, query, sender_id)
        if not self.domain or not rows:
            return None
        tracker = DialogueStateTracker.from_dict(
            sender_id, [json.loads(row) for row in rows], self.domain.slots
        )
        setattr(tracker, STORED, True)
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Stores the turn; after the person's erasure (action_erase_data set
        ``erased``), deletes what the turn would have stored back instead."""
        if tracker.get_slot(ERASED_SLOT):
            await asyncio.to_thread(self._erase_all, tracker.sender_id)
            return
        await self.stream_events(tracker)
        await asyncio.to_thread(self._store, tracker)

    def _rows(self, query: Any, sender_id: str) -> list[str]:
        with self.engine.connect() as connection:
            return connection.execute(query, {"sender_id": sender_id}).scalars().all()

    def _erase_all(self, sender_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(self._erase, {"sender_id": sender_id})

    def _store(self, tracker: DialogueStateTracker) -> None:
        """The events the store does not have yet, in one transaction."""
        with self.engine.begin() as connection:
            stored = connection.execute(
                self._count, {"sender_id": tracker.sender_id}
            ).scalar_one()
            # Stored when its turn began and gone now: erased meanwhile (by a
            # supervisor, or by a late action), and not stored again.
            if stored == 0 and getattr(tracker, STORED, False):
                return
            new = itertools.islice(tracker.events, stored, None)
            rows = [_row(tracker.sender_id, event) for event in new]
            if rows:
                connection.execute(self._insert, rows)

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        """Rasa's, except for a conversation erased during its turn: an event broker
        gets nothing of it (as the store keeps nothing)."""
        if self.event_broker is None:
            return
        stored = await self.retrieve(tracker.sender_id)
        if stored is None and getattr(tracker, STORED, False):
            return
        await self._stream_new_events(
            self.event_broker,
            TrackerEventDiffEngine.event_difference(stored, tracker),
            tracker.sender_id,
        )


def _row(sender_id: str, event: Event) -> dict[str, Any]:
    """An event as Rasa's SQLTrackerStore stores it."""
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {})
        .get("intent", {})
        .get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


def _fail_the_turn(self: FailSafeTrackerStore, error: Exception) -> None:
    raise error


def install() -> None:
    FailSafeTrackerStore.on_tracker_store_error = _fail_the_turn
    FailSafeTrackerStore.on_tracker_store_retrieve_error = _fail_the_turn
