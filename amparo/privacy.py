"""What we keep about a person, and how it goes away (README, "Privacy and data
protection"): the values of the first-contact notice, erasing one person from every
store, and the retention run that deletes what is older than AMPARO_RETENTION_DAYS.

Every store is a database: the case store (cases, messages, notes), the contact store
(encrypted address, last menu, the notice) on the same database, and Rasa's tracker
store (bot/trackers.py), whose ``events`` table is read here by URL so that the desk
and this command need no Rasa.

    python -m amparo.privacy retention [--days N]   # e.g. daily from cron
    python -m amparo.privacy rotate-keys            # after a new first data key
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from sqlalchemy import (
    Column,
    Float,
    MetaData,
    String,
    Table,
    delete,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import Engine

from amparo.cases import Caseworker, make_engine
from amparo.catalog import LANGUAGES
from amparo.contacts import contacts
from amparo.handoff import case_store
from amparo.responses import responses
from amparo.settings import settings

MAX_STATEMENT = 400
# Rasa's SQL tracker store keeps every event of a conversation in this table.
EVENTS = Table(
    "events",
    MetaData(),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
)
SESSION_STARTED = "session_started"


def notice_values(language: str) -> dict[str, str]:
    """The placeholders of ``utter_privacy_notice``."""
    return {
        "days": f"{settings().retention_days:g}",
        "statement": sharing_statement(language),
    }


def sharing_statement(language: str) -> str:
    """What the operator says about sharing data, in ``language``."""
    path = settings().sharing_statement
    if path is None:
        return responses().text("utter_sharing_statement", language)
    return load_statement(path)[language]


@cache
def load_statement(path: Path) -> dict[str, str]:
    """The operator's statement file: one short text per language we answer in."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as problem:
        raise ValueError(f"AMPARO_SHARING_STATEMENT: {problem}") from None
    texts = data if isinstance(data, dict) else {}
    for language in LANGUAGES:
        text = texts.get(language)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{path}: '{language}' must be the statement's text")
        if len(text) > MAX_STATEMENT:
            raise ValueError(f"{path}: '{language}' is over {MAX_STATEMENT} characters")
    return {language: " ".join(texts[language].split()) for language in LANGUAGES}


@dataclass(frozen=True)
class Erased:
    cases: int
    contacts: int
    events: int


def erase_person(conversation_id: str, caseworker: Caseworker | None = None) -> Erased:
    """Erases everything kept about one conversation: cases (with their messages,
    notes and audit entries), the contact (address, menu, notice) and the Rasa
    history. ``caseworker``: the supervisor who did it, None when the person asked."""
    return Erased(
        cases=case_store().erase_conversation(conversation_id, caseworker=caseworker),
        contacts=contacts().erase(conversation_id),
        events=erase_history(conversation_id),
    )


@cache
def _tracker_engine(url: str) -> Engine:
    return make_engine(url)


def _history() -> Engine | None:
    """The tracker store's database, None before Rasa has created its table (the
    table is Rasa's: never created here)."""
    engine = _tracker_engine(settings().tracker_db)
    return engine if inspect(engine).has_table(EVENTS.name) else None


def erase_history(conversation_id: str) -> int:
    """Deletes the conversation's Rasa events; the number deleted."""
    engine = _history()
    if engine is None:
        return 0
    with engine.begin() as connection:
        return connection.execute(
            delete(EVENTS).where(EVENTS.c.sender_id == conversation_id)
        ).rowcount


def expire_history(before: dt.datetime) -> int:
    """Deletes Rasa events older than ``before``: whole conversations silent since
    then, and the earlier sessions of the others. The session going on is kept whole,
    as Rasa counts its events to know what it has stored."""
    cutoff = before.timestamp()
    events = EVENTS.c
    later = EVENTS.alias("later")
    session_start = (
        select(func.max(later.c.timestamp))
        .where(
            later.c.sender_id == events.sender_id,
            later.c.type_name == SESSION_STARTED,
        )
        .scalar_subquery()
    )
    silent = (
        select(events.sender_id)
        .group_by(events.sender_id)
        .having(func.max(events.timestamp) < cutoff)
    )
    engine = _history()
    if engine is None:
        return 0
    with engine.begin() as connection:
        gone = connection.execute(
            delete(EVENTS).where(events.sender_id.in_(silent))
        ).rowcount
        gone += connection.execute(
            delete(EVENTS).where(
                events.timestamp < cutoff, events.timestamp < session_start
            )
        ).rowcount
    return gone


@dataclass(frozen=True)
class Expired:
    cases: int
    contacts: int
    events: int


def retention(days: float, now: dt.datetime | None = None) -> Expired:
    """Deletes closed cases, contacts and Rasa history older than ``days``. Open
    cases, and the contacts of their people, stay: someone is still helping them."""
    before = (now or dt.datetime.now(dt.timezone.utc)) - dt.timedelta(days=days)
    store = case_store()
    cases = store.expire_closed(before)
    return Expired(
        cases=cases,
        contacts=contacts().expire(before, keep=store.open_conversations()),
        events=expire_history(before),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amparo.privacy")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("retention", help="delete what is older than the limit")
    run.add_argument(
        "--days",
        type=float,
        help="the limit in days (default: AMPARO_RETENTION_DAYS, 90)",
    )
    commands.add_parser(
        "rotate-keys",
        help="seal every case message, note and address with the first data key",
    )
    args = parser.parse_args(argv)
    if args.command == "rotate-keys":
        texts, unreadable = case_store().reseal_all()
        addresses = contacts().reseal_all() if contacts().keys else 0
        print(
            f"rotate-keys: {texts} message(s) and note(s), {addresses} address(es) "
            "sealed again with the first of AMPARO_DATA_KEYS"
        )
        if unreadable:
            print(
                f"rotate-keys: {unreadable} message(s) or note(s) no configured key "
                "opens, left as they are: keep the old keys until they are found",
                file=sys.stderr,
            )
            return 1
        return 0
    days = args.days if args.days is not None else settings().retention_days
    if not days > 0:
        parser.error("--days must be above 0")
    gone = retention(days)
    print(
        f"retention ({days:g} days): deleted {gone.cases} closed case(s), "
        f"{gone.contacts} contact record(s), {gone.events} conversation event(s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
