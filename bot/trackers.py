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
read and write of a turn), checked before use (a database that was away costs no turn
once it is back), and on SQLite WAL with a busy timeout.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker, TrackerEventDiffEngine
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

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        tracker = await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        if tracker is not None:
            setattr(tracker, STORED, True)
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Stores the turn; after the person's erasure (action_erase_data set
        ``erased``), deletes what the turn would have stored back instead."""
        if tracker.get_slot(ERASED_SLOT):
            events = self.SQLEvent
            with self.session_scope() as session:
                session.query(events).filter(
                    events.sender_id == tracker.sender_id
                ).delete()
                session.commit()
            return
        await super().save(tracker)

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

    def _additional_events(
        self, session: Any, tracker: DialogueStateTracker
    ) -> Iterator[Event]:
        """The turn's events not stored yet (Rasa's count of the stored ones), or
        none when the conversation was stored when its turn began and is gone now:
        it was erased meanwhile (by a supervisor, or by a late action) and is not
        stored again."""
        stored = self._event_query(
            session, tracker.sender_id, fetch_events_from_all_sessions=False
        ).count()
        if stored == 0 and getattr(tracker, STORED, False):
            return iter(())
        return itertools.islice(tracker.events, stored, len(tracker.events))


def _fail_the_turn(self: FailSafeTrackerStore, error: Exception) -> None:
    raise error


def install() -> None:
    FailSafeTrackerStore.on_tracker_store_error = _fail_the_turn
    FailSafeTrackerStore.on_tracker_store_retrieve_error = _fail_the_turn
