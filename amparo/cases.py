"""The handoff case store: cases, what the person and the caseworkers wrote, private
notes, an append-only audit trail, and caseworker accounts.

SQLAlchemy 2.0 style on the 1.4 that Rasa 3.6 allows. SQLite by default, PostgreSQL by
URL (AMPARO_CASES_DB). A case holds only what a caseworker needs: a pseudonymous
conversation id (the channel's sender id, never a phone number), channel, language,
category, urgency, country and town, and the messages of the case itself, which are
encrypted at rest like the notes (AMPARO_DATA_KEYS, amparo/sealing.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import InvalidToken
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    literal,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy import text as sql
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, declarative_base, sessionmaker
from sqlalchemy.pool import QueuePool

from amparo.catalog import LANGUAGES
from amparo.sealing import SealedText, reseal

# Categories of a handoff: the disclosure categories (amparo.cues) and a plain request.
CATEGORIES = (
    "danger",
    "self_harm",
    "child_at_risk",
    "trafficking",
    "violence",
    "request_human",
)
URGENCY = {
    "danger": "urgent",
    "self_harm": "urgent",
    "child_at_risk": "high",
    "trafficking": "high",
    "violence": "high",
    "request_human": "normal",
}
URGENCY_RANK = {"urgent": 0, "high": 1, "normal": 2}
# Which team a category goes to first; a supervisor can transfer anywhere.
TEAM_OF = {
    "danger": "general",
    "self_harm": "psychosocial",
    "child_at_risk": "child_protection",
    "trafficking": "trafficking",
    "violence": "gbv",
    "request_human": "general",
}
TEAMS = ("gbv", "child_protection", "psychosocial", "trafficking", "general")
ROLES = ("caseworker", "supervisor")
OUTCOMES = (
    "support_given",
    "referred",
    "information_given",
    "no_response",
    "person_declined",
    "duplicate",
    "other",
)
QUEUED, ACTIVE, CLOSED = "queued", "active", "closed"
# Delivery of what the team writes to the person: queued → sent (a channel API took
# it) or delivered (the local chat fetched it); retried with back-off, then failed.
RECEIVED, PENDING, SENT, DELIVERED, FAILED = (
    "received",
    "queued",
    "sent",
    "delivered",
    "failed",
)
RETRY_AFTER = (5, 15, 60, 300)  # seconds before attempts 2, 3, 4, 5
MAX_TEXT = 4000
SESSION_HOURS = 8
# A caseworker's reading of a case is recorded once in this long, not at every refresh
# of an open conversation view.
VIEW_AUDIT_MINUTES = 15
CLOSED_SHOWN = 200  # the most recently closed cases the queue can list
ERASE_CHUNK = 500  # case ids per DELETE (SQLite limits bound parameters)
LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15

Base = declarative_base()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Caseworker(Base):
    __tablename__ = "caseworker"
    id = Column(Integer, primary_key=True)
    username = Column(String(64), unique=True, nullable=False)
    display_name = Column(String(80), nullable=False)
    role = Column(String(16), nullable=False)
    teams = Column(String(200), nullable=False, default="")
    password_hash = Column(String(200), nullable=False)
    disabled = Column(Boolean, nullable=False, default=False)
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime(timezone=True))
    created_at = Column(DateTime(timezone=True), nullable=False)

    @property
    def team_list(self) -> tuple[str, ...]:
        return tuple(t for t in self.teams.split(",") if t)

    def sees(self, case: Case) -> bool:
        return self.role == "supervisor" or case.team in self.team_list


class CaseworkerSession(Base):
    __tablename__ = "caseworker_session"
    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), unique=True, nullable=False)
    caseworker_id = Column(ForeignKey("caseworker.id"), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    expires_at = Column(DateTime(timezone=True), nullable=False)


class Case(Base):
    __tablename__ = "case"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    language = Column(String(8), nullable=False)
    category = Column(String(32), nullable=False)
    urgency = Column(String(16), nullable=False)
    team = Column(String(32), nullable=False)
    country = Column(String(2))
    area = Column(String(80))
    status = Column(String(16), nullable=False, index=True)
    assignee_id = Column(ForeignKey("caseworker.id"))
    opened_at = Column(DateTime(timezone=True), nullable=False)
    claimed_at = Column(DateTime(timezone=True))
    closed_at = Column(DateTime(timezone=True))
    outcome = Column(String(32))
    waiting_notice_at = Column(DateTime(timezone=True))
    reopened = Column(Integer, nullable=False, default=0)

    # One open case per conversation, whatever two processes do at the same moment.
    __table_args__ = (
        Index(
            "one_open_case_per_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=sql("status IN ('queued', 'active')"),
            postgresql_where=sql("status IN ('queued', 'active')"),
        ),
    )

    @property
    def person(self) -> str:
        """How caseworkers refer to the person: not the channel's id (on the local
        chat that id is the person's only credential), a short digest of it."""
        return hashlib.sha256(self.conversation_id.encode()).hexdigest()[:10]


class CaseMessage(Base):
    __tablename__ = "case_message"
    id = Column(Integer, primary_key=True)
    case_id = Column(ForeignKey("case.id"), nullable=False, index=True)
    author = Column(String(16), nullable=False)  # person, caseworker, system
    caseworker_id = Column(ForeignKey("caseworker.id"))
    text = Column(SealedText, nullable=False)  # encrypted at rest (amparo/sealing.py)
    created_at = Column(DateTime(timezone=True), nullable=False)
    status = Column(String(16), nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime(timezone=True))
    error = Column(String(200))
    sent_at = Column(DateTime(timezone=True))


class CaseNote(Base):
    __tablename__ = "case_note"
    id = Column(Integer, primary_key=True)
    case_id = Column(ForeignKey("case.id"), nullable=False, index=True)
    caseworker_id = Column(ForeignKey("caseworker.id"), nullable=False)
    text = Column(SealedText, nullable=False)  # encrypted at rest
    created_at = Column(DateTime(timezone=True), nullable=False)


class CaseEvent(Base):
    """Audit trail: who did or saw what to which case, and when. Only ever added to;
    a case's entries go with it when the person's data is erased or expires (one
    entry then says so)."""

    __tablename__ = "case_event"
    id = Column(Integer, primary_key=True)
    case_id = Column(ForeignKey("case.id"), index=True)
    caseworker_id = Column(ForeignKey("caseworker.id"))
    action = Column(String(32), nullable=False)
    detail = Column(String(200))
    at = Column(DateTime(timezone=True), nullable=False)


class ReplyTemplate(Base):
    """A canned reply the console offers caseworkers, in one language; supervisors
    edit them (seeded from caseworker/templates.yml the first time the desk starts)."""

    __tablename__ = "reply_template"
    id = Column(Integer, primary_key=True)
    language = Column(String(8), nullable=False, index=True)
    title = Column(String(80), nullable=False)
    text = Column(Text, nullable=False)
    updated_by = Column(ForeignKey("caseworker.id"))
    updated_at = Column(DateTime(timezone=True), nullable=False)


class CaseError(Exception):
    """A request the store refuses; ``status`` is the HTTP status that fits it."""

    status = 400


class NotFound(CaseError):
    status = 404


class Conflict(CaseError):
    status = 409


class Forbidden(CaseError):
    status = 403


@dataclass(frozen=True)
class Opened:
    case: Case
    reopened: bool  # an earlier case of this person, closed recently, is open again
    already_open: bool  # the case was open already: nothing new was opened


def make_engine(url: str) -> Engine:
    """The engine for a URL; SQLite gets a directory, WAL and a busy timeout, so the
    Rasa server, the action server and the desk can share one file. A database server's
    connections are checked before use (one that restarted costs no turn once it is
    back); a file's cannot be dropped, and are not."""
    sqlite = url.startswith("sqlite")
    options: dict = {"future": True, "pool_pre_ping": not sqlite}
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # SQLAlchemy 1.4 opens a new SQLite connection per session (NullPool), and
        # runs the PRAGMAs below each time: under load that was 29 % of the store's
        # time. Pooled, each connection is opened and set up once; a connection is
        # used by one thread at a time, as the pool hands it out.
        options.update(
            poolclass=QueuePool,
            pool_size=8,
            max_overflow=16,
            connect_args={"check_same_thread": False},
        )
    engine = create_engine(url, **options)
    if sqlite:

        @event.listens_for(engine, "connect")
        def _sqlite(connection, _record) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back naive: they were stored in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment


def _clean_text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise CaseError("the text is empty")
    if len(text) > MAX_TEXT:
        raise CaseError(f"the text is longer than {MAX_TEXT} characters")
    return text


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CaseStore:
    """Every read and write of cases and accounts: one short transaction per call."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._session = sessionmaker(engine, future=True, expire_on_commit=False)
        self._hasher = PasswordHasher()

    @classmethod
    def from_url(cls, url: str) -> CaseStore:
        store = cls(make_engine(url))
        store.create_tables()
        return store

    def create_tables(self) -> None:
        Base.metadata.create_all(self.engine)

    def session(self) -> Session:
        return self._session()

    # --- privacy: erasing a person, retention (amparo/privacy.py) ------------------

    def erase_conversation(
        self, conversation_id: str, *, caseworker: Caseworker | None = None
    ) -> int:
        """Deletes every case of the person, with its messages, notes and audit
        entries. The audit trail keeps one entry: how many cases, and who asked (a
        caseworker, or the person when ``caseworker`` is None), nothing about them."""
        with self.session() as session, session.begin():
            # Locked (PostgreSQL): a message being added to one of them waits, and
            # then finds its case gone instead of half-erasing it.
            ids = session.scalars(
                select(Case.id)
                .where(Case.conversation_id == conversation_id)
                .with_for_update()
            ).all()
            self._delete_cases(session, ids)
            detail = f"{len(ids)} case(s)" + ("" if caseworker else ", by the person")
            self._audit(session, None, caseworker, "erased", detail, utcnow())
        return len(ids)

    def conversation_of(self, case_id: int, caseworker: Caseworker) -> str:
        """The conversation of a case, for a supervisor erasing that person."""
        if caseworker.role != "supervisor":
            raise Forbidden("only a supervisor can erase a person's data")
        with self.session() as session:
            return self._visible(session, case_id, caseworker).conversation_id

    def expire_closed(self, before: dt.datetime) -> int:
        """Retention: deletes cases closed before ``before`` (open ones stay)."""
        with self.session() as session, session.begin():
            ids = session.scalars(
                select(Case.id).where(Case.status == CLOSED, Case.closed_at < before)
            ).all()
            self._delete_cases(session, ids)
            if ids:
                detail = f"{len(ids)} case(s) closed before {before:%Y-%m-%d}"
                self._audit(session, None, None, "expired", detail, utcnow())
        return len(ids)

    def open_conversations(self) -> list[str]:
        """The conversations with a case still open (their contact is kept)."""
        with self.session() as session:
            return list(
                session.scalars(
                    select(Case.conversation_id).where(Case.status != CLOSED).distinct()
                )
            )

    def reseal_all(self) -> tuple[int, int]:
        """Key rotation: every message and note sealed with the current key (text
        from before encryption at rest gets sealed). Rows changed, and rows no
        configured key opens (left as they are: an old key may still be found)."""
        changed = unreadable = 0
        with self.engine.begin() as connection:
            for table in (CaseMessage.__table__, CaseNote.__table__):
                for row_id, value in connection.execute(
                    select(table.c.id, sql_cast(table.c.text, Text))
                ).all():
                    try:
                        fresh = reseal(value)
                    except InvalidToken:
                        unreadable += 1
                        continue
                    if fresh != value:
                        connection.execute(
                            update(table)
                            .where(table.c.id == row_id)
                            .values(text=sql_cast(literal(fresh), Text))
                        )
                        changed += 1
        return changed, unreadable

    @staticmethod
    def _delete_cases(session: Session, ids: Sequence[int]) -> None:
        for start in range(0, len(ids), ERASE_CHUNK):
            chunk = ids[start : start + ERASE_CHUNK]
            for model in (CaseMessage, CaseNote, CaseEvent, Case):
                column = model.id if model is Case else model.case_id
                session.execute(delete(model).where(column.in_(chunk)))

    # --- the person's side: opening, routing, pick-up ------------------------------

    def open_case(
        self,
        *,
        conversation_id: str,
        channel: str,
        language: str,
        category: str,
        country: str | None = None,
        area: str | None = None,
        context: Sequence[str] = (),
        reopen_within: dt.timedelta = dt.timedelta(hours=72),
        told_waiting: bool = False,
        now: dt.datetime | None = None,
    ) -> Opened:
        """Opens a case for a conversation, or returns the one already open, or reopens
        the person's last case if it closed within ``reopen_within``. ``context``: what
        the person wrote that led here, so they need not say it again. ``told_waiting``:
        the person was just told nobody is on duty (no later "still waiting" notice)."""
        if category not in CATEGORIES:
            raise CaseError(f"unknown category {category!r}")
        now = now or utcnow()
        attempt = partial(
            self._open_case,
            conversation_id,
            channel,
            language,
            category,
            country,
            area,
            context,
            reopen_within,
            told_waiting,
            now,
        )
        try:
            return attempt()
        except IntegrityError:  # another process opened it a moment ago: use that
            return attempt()

    def _open_case(
        self,
        conversation_id: str,
        channel: str,
        language: str,
        category: str,
        country: str | None,
        area: str | None,
        context: Sequence[str],
        reopen_within: dt.timedelta,
        told_waiting: bool,
        now: dt.datetime,
    ) -> Opened:
        with self.session() as session, session.begin():
            case = self._open_case_of(session, conversation_id)
            if case is not None:
                self._raise_urgency(session, case, category, now)
                return Opened(case, reopened=False, already_open=True)
            last = session.scalars(
                select(Case)
                .where(Case.conversation_id == conversation_id)
                .order_by(Case.id.desc())
                .limit(1)
            ).first()
            if (
                last is not None
                and last.status == CLOSED
                and aware(last.closed_at) >= now - reopen_within
            ):
                # Back in the queue for whoever is free; a new disclosure moves it
                # to the team for it.
                last.status, last.assignee_id, last.claimed_at = QUEUED, None, None
                if category != "request_human":
                    last.category, last.team = category, TEAM_OF[category]
                last.closed_at = last.outcome = None
                last.waiting_notice_at = now if told_waiting else None
                last.opened_at = now
                last.reopened += 1
                last.language, last.channel = language, channel
                self._raise_urgency(session, last, category, now)
                self._add_context(session, last, context, now)
                self._audit(session, last, None, "reopened", "by the person", now)
                session.flush()
                return Opened(last, reopened=True, already_open=False)
            case = Case(
                conversation_id=conversation_id,
                channel=channel,
                language=language,
                category=category,
                urgency=URGENCY[category],
                team=TEAM_OF[category],
                country=country,
                area=(area or None) and area[:80],
                status=QUEUED,
                opened_at=now,
                waiting_notice_at=now if told_waiting else None,
            )
            session.add(case)
            session.flush()
            self._add_context(session, case, context, now)
            self._audit(session, case, None, "opened", category, now)
            return Opened(case, reopened=False, already_open=False)

    def open_case_of(self, conversation_id: str) -> Case | None:
        """The conversation's open case (queued or active), if any: its messages go to
        the case, not to the bot."""
        with self.session() as session:
            return self._open_case_of(session, conversation_id)

    def add_person_message(
        self,
        *,
        case_id: int,
        text: str,
        category: str | None = None,
        now: dt.datetime | None = None,
    ) -> CaseMessage:
        """Stores a message from the person (before anything acknowledges it). A
        disclosure cue in it (``category``) raises the case's urgency."""
        now = now or utcnow()
        with self.session() as session, session.begin():
            # Locks the case first: a close at the same moment either comes before
            # (this raises, the message goes to the bot) or waits for this one.
            if not self._lock_open(session, case_id):
                raise NotFound("the case is not open")
            case = session.get(Case, case_id)
            if category in URGENCY:
                self._raise_urgency(session, case, category, now)
            message = CaseMessage(
                case_id=case_id,
                author="person",
                text=(text or "").strip()[:MAX_TEXT] or "…",
                created_at=now,
                status=RECEIVED,
            )
            session.add(message)
            return message

    def pick_up(
        self, conversation_id: str, *, channel: str, now: dt.datetime | None = None
    ) -> list:
        """For channels the person's client polls (the local chat, REST): what the team
        has written that the client has not fetched yet, oldest first, now delivered."""
        now = now or utcnow()
        mine = (
            select(CaseMessage.id)
            .join(Case, Case.id == CaseMessage.case_id)
            .where(
                Case.conversation_id == conversation_id,
                Case.channel == channel,
                CaseMessage.author != "person",
            )
        )
        with self.session() as session, session.begin():
            # Write first, read after: two polls at once never both take a message.
            session.execute(
                update(CaseMessage)
                .where(
                    CaseMessage.id.in_(mine.where(CaseMessage.status == PENDING)),
                    CaseMessage.status == PENDING,
                )
                .values(
                    status=DELIVERED, sent_at=now, attempts=CaseMessage.attempts + 1
                )
                .execution_options(synchronize_session=False)
            )
            return list(
                session.scalars(
                    select(CaseMessage)
                    .where(
                        CaseMessage.id.in_(mine),
                        CaseMessage.status == DELIVERED,
                        CaseMessage.sent_at == now,
                    )
                    .order_by(CaseMessage.id)
                ).all()
            )

    # --- the caseworker's side -----------------------------------------------------

    def queue(self, viewer: Caseworker, *, include_closed: bool = False) -> list[Case]:
        """Open cases the viewer may see: most urgent first, then longest waiting;
        with ``include_closed``, then the most recently closed ones."""
        with self.session() as session:
            cases = list(
                session.scalars(
                    select(Case).where(Case.status.in_((QUEUED, ACTIVE)))
                ).all()
            )
            if include_closed:
                cases += session.scalars(
                    select(Case)
                    .where(Case.status == CLOSED)
                    .order_by(Case.closed_at.desc())
                    .limit(CLOSED_SHOWN)
                ).all()
        visible = [case for case in cases if viewer.sees(case)]
        return sorted(
            visible,
            key=lambda c: (
                c.status == CLOSED,
                URGENCY_RANK[c.urgency],
                aware(c.opened_at),
            ),
        )

    def case(self, case_id: int, viewer: Caseworker, *, audit: bool = True) -> Case:
        """One case, if the viewer may see it (another team's case is "not found")."""
        with self.session() as session, session.begin():
            case = session.get(Case, case_id)
            if case is None or not viewer.sees(case):
                raise NotFound("no such case")
            if audit and not self._seen_lately(session, case, viewer):
                self._audit(session, case, viewer, "viewed", None, utcnow())
            return case

    def last_authors(self, case_ids: Iterable[int]) -> dict[int, str]:
        """Who wrote each case's latest message (person, caseworker, system)."""
        latest = (
            select(func.max(CaseMessage.id))
            .where(CaseMessage.case_id.in_(list(case_ids)))
            .group_by(CaseMessage.case_id)
        )
        with self.session() as session:
            return dict(
                session.execute(
                    select(CaseMessage.case_id, CaseMessage.author).where(
                        CaseMessage.id.in_(latest)
                    )
                ).all()
            )

    def messages(self, case_id: int) -> list[CaseMessage]:
        return self._of_case(CaseMessage, case_id)

    def notes(self, case_id: int) -> list[CaseNote]:
        return self._of_case(CaseNote, case_id)

    def _of_case(self, model, case_id: int) -> list:
        """A case's messages or notes, oldest first."""
        with self.session() as session:
            query = select(model).where(model.case_id == case_id).order_by(model.id)
            return list(session.scalars(query).all())

    def record(self, *, case_id: int, caseworker: Caseworker, action: str) -> None:
        """An audit entry for something seen or done outside the store."""
        with self.session() as session, session.begin():
            case = self._visible(session, case_id, caseworker)
            self._audit(session, case, caseworker, action, None, utcnow())

    def events(
        self, case_id: int | None = None, *, limit: int | None = None
    ) -> list[CaseEvent]:
        """The audit trail, oldest first; with ``limit``, only its newest entries."""
        query = select(CaseEvent).order_by(CaseEvent.id.desc()).limit(limit)
        if case_id is not None:
            query = query.where(CaseEvent.case_id == case_id)
        with self.session() as session:
            return list(reversed(session.scalars(query).all()))

    def claim(
        self, *, case_id: int, caseworker: Caseworker, notice: str, now=None
    ) -> Case:
        """Takes a queued case; ``notice`` tells the person someone has joined. Two
        caseworkers claiming at once: one wins, the other gets Conflict."""
        now = now or utcnow()
        with self.session() as session, session.begin():
            case = self._visible(session, case_id, caseworker)
            taken = session.execute(
                update(Case)
                .where(Case.id == case_id, Case.status == QUEUED)
                .values(status=ACTIVE, assignee_id=caseworker.id, claimed_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not taken:
                raise Conflict(f"the case is {case.status}, not waiting in the queue")
            session.refresh(case)
            self._add_outgoing(session, case, None, notice, "system", now)
            self._audit(session, case, caseworker, "claimed", None, now)
            return case

    def reply(
        self, *, case_id: int, caseworker: Caseworker, text: str, now=None
    ) -> CaseMessage:
        """A caseworker's reply, queued for delivery on the person's channel."""
        text = _clean_text(text)
        now = now or utcnow()
        with self.session() as session, session.begin():
            case = self._visible(session, case_id, caseworker)
            if case.status != ACTIVE:
                raise Conflict("claim the case before replying")
            if case.assignee_id != caseworker.id and caseworker.role != "supervisor":
                raise Forbidden("the case is assigned to someone else")
            message = self._add_outgoing(
                session, case, caseworker, text, "caseworker", now
            )
            self._audit(session, case, caseworker, "replied", None, now)
            return message

    def retry(self, *, case_id: int, message_id: int, caseworker: Caseworker) -> None:
        """Sends a failed message again."""
        with self.session() as session, session.begin():
            case = self._visible(session, case_id, caseworker)
            message = session.get(CaseMessage, message_id)
            if message is None or message.case_id != case.id:
                raise NotFound("no such message")
            if message.status != FAILED:
                raise Conflict(f"the message is {message.status}, not failed")
            message.status, message.next_attempt_at, message.error = PENDING, None, None
            message.attempts = 0
            self._audit(session, case, caseworker, "retried", str(message_id), utcnow())

    def add_note(self, *, case_id: int, caseworker: Caseworker, text: str) -> CaseNote:
        text = _clean_text(text)
        with self.session() as session, session.begin():
            case = self._visible(session, case_id, caseworker)
            note = CaseNote(
                case_id=case.id,
                caseworker_id=caseworker.id,
                text=text,
                created_at=utcnow(),
            )
            session.add(note)
            self._audit(session, case, caseworker, "noted", None, utcnow())
            return note

    def transfer(
        self,
        *,
        case_id: int,
        caseworker: Caseworker,
        to_username: str | None = None,
        to_team: str | None = None,
        notice: str,
    ) -> Case:
        """To another caseworker (the case stays active, now theirs) or to a team (back
        in that team's queue). The person is told, without names."""
        if bool(to_username) == bool(to_team):
            raise CaseError("transfer to one caseworker or to one team")
        if to_team and to_team not in TEAMS:
            raise CaseError(f"unknown team {to_team!r}; teams: {', '.join(TEAMS)}")
        now = utcnow()
        with self.session() as session, session.begin():
            case = self._visible(session, case_id, caseworker)
            if case.status == CLOSED:
                raise Conflict("the case is closed")
            if caseworker.role != "supervisor" and case.assignee_id not in (
                None,
                caseworker.id,
            ):
                raise Forbidden("only its caseworker or a supervisor can transfer it")
            if to_username:
                target = session.scalars(
                    select(Caseworker).where(Caseworker.username == to_username)
                ).first()
                if target is None or target.disabled:
                    raise CaseError(f"no active caseworker {to_username!r}")
                if not target.sees(case):
                    case.team = next(iter(target.team_list), case.team)
                case.assignee_id, case.status, case.claimed_at = target.id, ACTIVE, now
                detail = f"to {to_username}"
            else:
                case.team, case.assignee_id, case.status = to_team, None, QUEUED
                case.claimed_at = None
                case.waiting_notice_at = now  # the transfer notice says it
                detail = f"to team {to_team}"
            self._add_outgoing(session, case, None, notice, "system", now)
            self._audit(session, case, caseworker, "transferred", detail, now)
            return case

    def close(
        self, *, case_id: int, caseworker: Caseworker, outcome: str, notice: str
    ) -> Case:
        """Closes with an outcome; the person is told and the bot answers them again."""
        if outcome not in OUTCOMES:
            raise CaseError(f"outcome must be one of: {', '.join(OUTCOMES)}")
        now = utcnow()
        with self.session() as session, session.begin():
            is_open = self._lock_open(session, case_id)
            case = self._visible(session, case_id, caseworker)
            if not is_open:
                raise Conflict("the case is already closed")
            if caseworker.role != "supervisor" and case.assignee_id not in (
                None,
                caseworker.id,
            ):
                raise Forbidden("only its caseworker or a supervisor can close it")
            self._add_outgoing(session, case, None, notice, "system", now)
            case.status, case.closed_at, case.outcome = CLOSED, now, outcome
            self._audit(session, case, caseworker, "closed", outcome, now)
            return case

    def reopen(self, *, case_id: int, caseworker: Caseworker, notice: str) -> Case:
        """A caseworker takes a closed case up again (theirs, active)."""
        try:
            return self._reopen(case_id, caseworker, notice)
        except IntegrityError:
            raise Conflict("this person has another open case") from None

    def _reopen(self, case_id: int, caseworker: Caseworker, notice: str) -> Case:
        now = utcnow()
        with self.session() as session, session.begin():
            case = self._visible(session, case_id, caseworker)
            if case.status != CLOSED:
                raise Conflict(f"the case is {case.status}, not closed")
            if self._open_case_of(session, case.conversation_id) is not None:
                raise Conflict("this person has another open case")
            case.status, case.assignee_id, case.claimed_at = ACTIVE, caseworker.id, now
            case.closed_at = case.outcome = None
            case.reopened += 1
            self._add_outgoing(session, case, None, notice, "system", now)
            self._audit(session, case, caseworker, "reopened", None, now)
            return case

    # --- delivery and reminders (the desk's background work) ------------------------

    def due_messages(self, channels: Iterable[str], *, now=None) -> list[tuple]:
        """(message, case) to send now on push channels: per case only the oldest
        undelivered message, so a case's messages arrive in order."""
        now = now or utcnow()
        with self.session() as session:
            rows = session.execute(
                select(CaseMessage, Case)
                .join(Case, Case.id == CaseMessage.case_id)
                .where(
                    CaseMessage.status == PENDING,
                    Case.channel.in_(list(channels)),
                )
                .order_by(CaseMessage.case_id, CaseMessage.id)
            ).all()
        due, seen = [], set()
        for message, case in rows:
            if case.id in seen:
                continue
            seen.add(case.id)
            waiting = aware(message.next_attempt_at)
            if waiting is None or waiting <= now:
                due.append((message, case))
        return due

    def mark_sent(self, message_id: int, *, now=None) -> None:
        with self.session() as session, session.begin():
            message = session.get(CaseMessage, message_id)
            message.status, message.sent_at = SENT, now or utcnow()
            message.attempts += 1
            message.error = message.next_attempt_at = None

    def mark_failed(self, message_id: int, error: str, *, now=None) -> str:
        """One failed attempt: retried later with back-off, or failed for good (the
        caseworker sees it and can retry). Returns the new status."""
        now = now or utcnow()
        with self.session() as session, session.begin():
            message = session.get(CaseMessage, message_id)
            message.attempts += 1
            message.error = error[:200]
            if message.attempts > len(RETRY_AFTER):
                message.status, message.next_attempt_at = FAILED, None
            else:
                wait = RETRY_AFTER[message.attempts - 1]
                message.next_attempt_at = now + dt.timedelta(seconds=wait)
            return message.status

    def unclaimed_since(self, moment: dt.datetime) -> list[Case]:
        """Queued cases opened before ``moment`` whose person has not been told yet
        that nobody is free."""
        with self.session() as session:
            return list(
                session.scalars(
                    select(Case).where(
                        Case.status == QUEUED,
                        Case.opened_at <= moment,
                        Case.waiting_notice_at.is_(None),
                    )
                ).all()
            )

    def notify_waiting(self, *, case_id: int, notice: str, now=None) -> bool:
        """Tells the person nobody is free yet, once per wait; False if the case was
        claimed or told meanwhile."""
        now = now or utcnow()
        with self.session() as session, session.begin():
            told = session.execute(
                update(Case)
                .where(
                    Case.id == case_id,
                    Case.status == QUEUED,
                    Case.waiting_notice_at.is_(None),
                )
                .values(waiting_notice_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if told:
                case = session.get(Case, case_id)
                self._add_outgoing(session, case, None, notice, "system", now)
                self._audit(session, case, None, "waiting_notice", None, now)
            return bool(told)

    # --- accounts -----------------------------------------------------------------

    def create_caseworker(
        self,
        *,
        username: str,
        password: str,
        role: str = "caseworker",
        teams: Sequence[str] = (),
        display_name: str | None = None,
    ) -> Caseworker:
        if role not in ROLES:
            raise CaseError(f"role must be one of: {', '.join(ROLES)}")
        unknown = [team for team in teams if team not in TEAMS]
        if unknown:
            raise CaseError(f"unknown team {unknown[0]!r}; teams: {', '.join(TEAMS)}")
        if role == "caseworker" and not teams:
            raise CaseError("a caseworker needs at least one team")
        if not username or len(username) > 64 or not username.isascii():
            raise CaseError("the username must be 1 to 64 plain characters")
        if len(password) < 12:
            raise CaseError("the password must have at least 12 characters")
        with self.session() as session, session.begin():
            if session.scalars(
                select(Caseworker).where(Caseworker.username == username)
            ).first():
                raise Conflict(f"there is already an account {username!r}")
            caseworker = Caseworker(
                username=username,
                display_name=display_name or username,
                role=role,
                teams=",".join(teams),
                password_hash=self._hasher.hash(password),
                created_at=utcnow(),
            )
            session.add(caseworker)
            return caseworker

    def set_disabled(self, username: str, disabled: bool = True) -> None:
        """Disabling also ends the account's sessions."""
        with self.session() as session, session.begin():
            caseworker = session.scalars(
                select(Caseworker).where(Caseworker.username == username)
            ).first()
            if caseworker is None:
                raise NotFound(f"no account {username!r}")
            caseworker.disabled = disabled
            if disabled:
                for old in session.scalars(
                    select(CaseworkerSession).where(
                        CaseworkerSession.caseworker_id == caseworker.id
                    )
                ):
                    session.delete(old)

    def log_in(self, username: str, password: str, *, now=None) -> str | None:
        """A new session token, or None. After repeated failures the account is locked
        for a while, whatever the password."""
        now = now or utcnow()
        with self.session() as session, session.begin():
            caseworker = session.scalars(
                select(Caseworker).where(Caseworker.username == username)
            ).first()
            if caseworker is None:
                self._hasher.hash(password)  # same time as a wrong password
                return None
            locked = aware(caseworker.locked_until)
            if caseworker.disabled or (locked and locked > now):
                self._hasher.hash(password)  # nor does a locked account answer faster
                return None
            try:
                self._hasher.verify(caseworker.password_hash, password)
            except (VerificationError, InvalidHashError):
                # Counted in the database: parallel guesses each count.
                session.execute(
                    update(Caseworker)
                    .where(Caseworker.id == caseworker.id)
                    .values(failed_logins=Caseworker.failed_logins + 1)
                    .execution_options(synchronize_session=False)
                )
                session.refresh(caseworker)
                if caseworker.failed_logins >= LOCK_AFTER_FAILURES:
                    caseworker.locked_until = now + dt.timedelta(minutes=LOCK_MINUTES)
                    caseworker.failed_logins = 0
                return None
            caseworker.failed_logins, caseworker.locked_until = 0, None
            if self._hasher.check_needs_rehash(caseworker.password_hash):
                caseworker.password_hash = self._hasher.hash(password)
            token = secrets.token_urlsafe(32)
            session.add(
                CaseworkerSession(
                    token_hash=_token_hash(token),
                    caseworker_id=caseworker.id,
                    created_at=now,
                    expires_at=now + dt.timedelta(hours=SESSION_HOURS),
                )
            )
            self._audit(session, None, caseworker, "logged_in", None, now)
            return token

    def caseworker_for(self, token: str, *, now=None) -> Caseworker | None:
        now = now or utcnow()
        with self.session() as session:
            row = session.execute(
                select(Caseworker, CaseworkerSession)
                .join(CaseworkerSession)
                .where(CaseworkerSession.token_hash == _token_hash(token))
            ).first()
            if row is None or row[0].disabled or aware(row[1].expires_at) <= now:
                return None
            return row[0]

    def log_out(self, token: str) -> None:
        with self.session() as session, session.begin():
            for old in session.scalars(
                select(CaseworkerSession).where(
                    CaseworkerSession.token_hash == _token_hash(token)
                )
            ):
                session.delete(old)

    def caseworkers(self) -> list[Caseworker]:
        """Active accounts, by username."""
        with self.session() as session:
            return list(
                session.scalars(
                    select(Caseworker)
                    .where(Caseworker.disabled.is_(False))
                    .order_by(Caseworker.username)
                ).all()
            )

    def caseworker_names(self) -> dict[int, str]:
        """Account id → username, in one query."""
        with self.session() as session:
            return dict(
                session.execute(select(Caseworker.id, Caseworker.username)).all()
            )

    # --- canned replies ---------------------------------------------------------

    def templates(self, language: str | None = None) -> list[ReplyTemplate]:
        query = select(ReplyTemplate).order_by(ReplyTemplate.language, ReplyTemplate.id)
        if language:
            query = query.where(ReplyTemplate.language == language)
        with self.session() as session:
            return list(session.scalars(query).all())

    def seed_templates(self, rows: Callable[[], Iterable[tuple[str, str, str]]]) -> int:
        """The first canned replies, (language, title, text) from ``rows()``, once in
        the store's life (the audit trail remembers): what supervisors have edited or
        deleted since stays so."""
        with self.session() as session, session.begin():
            seeded = select(CaseEvent.id).where(CaseEvent.action == "templates_seeded")
            if session.scalars(seeded.limit(1)).first() is not None:
                return 0
            now = utcnow()
            added = [
                ReplyTemplate(language=language, title=title, text=text, updated_at=now)
                for language, title, text in rows()
            ]
            session.add_all(added)
            self._audit(session, None, None, "templates_seeded", str(len(added)), now)
            return len(added)

    def save_template(
        self,
        *,
        caseworker: Caseworker,
        title: str,
        text: str,
        language: str | None = None,
        template_id: int | None = None,
    ) -> ReplyTemplate:
        """A new template (``language``) or a change to one (``template_id``)."""
        if caseworker.role != "supervisor":
            raise Forbidden("supervisors edit the canned replies")
        title, text = _clean_text(title)[:80], _clean_text(text)
        now = utcnow()
        with self.session() as session, session.begin():
            if template_id is None:
                if language not in LANGUAGES:
                    raise CaseError(f"language must be one of: {', '.join(LANGUAGES)}")
                template = ReplyTemplate(language=language)
                session.add(template)
            else:
                template = session.get(ReplyTemplate, template_id)
                if template is None:
                    raise NotFound("no such template")
            template.title, template.text = title, text
            template.updated_by, template.updated_at = caseworker.id, now
            session.flush()
            action = "template_added" if template_id is None else "template_edited"
            self._audit(session, None, caseworker, action, str(template.id), now)
            return template

    def delete_template(self, *, caseworker: Caseworker, template_id: int) -> None:
        if caseworker.role != "supervisor":
            raise Forbidden("supervisors edit the canned replies")
        with self.session() as session, session.begin():
            template = session.get(ReplyTemplate, template_id)
            if template is None:
                raise NotFound("no such template")
            session.delete(template)
            self._audit(
                session, None, caseworker, "template_deleted", template.title, utcnow()
            )

    # --- helpers ---------------------------------------------------------------

    @staticmethod
    def _seen_lately(session: Session, case: Case, viewer: Caseworker) -> bool:
        since = utcnow() - dt.timedelta(minutes=VIEW_AUDIT_MINUTES)
        return (
            session.scalars(
                select(CaseEvent.id)
                .where(
                    CaseEvent.case_id == case.id,
                    CaseEvent.caseworker_id == viewer.id,
                    CaseEvent.action == "viewed",
                    CaseEvent.at >= since,
                )
                .limit(1)
            ).first()
            is not None
        )

    @staticmethod
    def _open_case_of(session: Session, conversation_id: str) -> Case | None:
        return session.scalars(
            select(Case).where(
                Case.conversation_id == conversation_id,
                Case.status.in_((QUEUED, ACTIVE)),
            )
        ).first()

    @staticmethod
    def _lock_open(session: Session, case_id: int) -> bool:
        """Takes the write lock on a case if it is open (a no-op UPDATE: SQLite locks
        the database, PostgreSQL the row); False if it is closed or missing."""
        return bool(
            session.execute(
                update(Case)
                .where(Case.id == case_id, Case.status.in_((QUEUED, ACTIVE)))
                .values(status=Case.status)
                .execution_options(synchronize_session=False)
            ).rowcount
        )

    @staticmethod
    def _visible(session: Session, case_id: int, viewer: Caseworker) -> Case:
        case = session.get(Case, case_id)
        if case is None or not viewer.sees(case):
            raise NotFound("no such case")
        return case

    def _raise_urgency(
        self, session: Session, case: Case, category: str, now: dt.datetime
    ) -> None:
        urgency = URGENCY[category]
        if URGENCY_RANK[urgency] < URGENCY_RANK[case.urgency]:
            self._audit(
                session, case, None, "urgency", f"{case.urgency} → {urgency}", now
            )
            case.urgency = urgency

    @staticmethod
    def _add_context(
        session: Session, case: Case, context: Sequence[str], now: dt.datetime
    ) -> None:
        for text in context:
            if text and text.strip():
                session.add(
                    CaseMessage(
                        case_id=case.id,
                        author="person",
                        text=text.strip()[:MAX_TEXT],
                        created_at=now,
                        status=RECEIVED,
                    )
                )

    @staticmethod
    def _add_outgoing(
        session: Session,
        case: Case,
        caseworker: Caseworker | None,
        text: str,
        author: str,
        now: dt.datetime,
    ) -> CaseMessage:
        message = CaseMessage(
            case_id=case.id,
            author=author,
            caseworker_id=caseworker.id if caseworker else None,
            text=text,
            created_at=now,
            status=PENDING,
        )
        session.add(message)
        session.flush()
        return message

    @staticmethod
    def _audit(
        session: Session,
        case: Case | None,
        caseworker: Caseworker | None,
        action: str,
        detail: str | None,
        now: dt.datetime,
    ) -> None:
        session.add(
            CaseEvent(
                case_id=case.id if case else None,
                caseworker_id=caseworker.id if caseworker else None,
                action=action,
                detail=detail,
                at=now,
            )
        )
