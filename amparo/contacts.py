"""Who a phone channel's message came from, without keeping who they are in the clear.

A conversation id is a keyed hash (HMAC-SHA256, AMPARO_ID_KEY) of the channel and the
person's address (phone number, Telegram chat id): stable, so the same person keeps one
conversation, and useless to anyone without the key. Rasa's trackers, the case store
and the logs only ever see that id. The address itself, which a reply needs, is kept
here encrypted (Fernet, AMPARO_DATA_KEYS; the first key encrypts, older ones still
decrypt, so keys can be rotated).

The same tables hold the last menu the person was shown (so "2" means its second
choice on SMS and WhatsApp), the ids of the channel deliveries already taken (a
webhook delivered twice is answered once) and, until its turn is done, each taken
delivery itself, sealed: the journal a Rasa process killed mid-turn is replayed from
(channels/base.py), so a message the platform was told "received" is never lost.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    String,
    Text,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import declarative_base, sessionmaker

from amparo.sealing import cipher
from amparo.settings import Settings, settings

Base = declarative_base()
# A delivery id older than this is forgotten: the channels redeliver within minutes.
SEEN_DAYS = 2
PRUNE_EVERY_SECONDS = 3600
MAX_MENU = 20
IN_USE_EVERY = dt.timedelta(days=1)  # how often a contact in use is marked so
# A journalled delivery whose turn was started this often is given up (logged).
MAX_ATTEMPTS = 3


class NoAddress(LookupError):
    """No address is kept for this conversation (or it cannot be decrypted)."""


class Contact(Base):
    __tablename__ = "contact"
    conversation_id = Column(String(64), primary_key=True)
    channel = Column(String(16), nullable=False)
    address = Column(Text)  # Fernet token; NULL for channels that need none
    menu = Column(Text)  # JSON list of the payloads last offered, in order
    updated_at = Column(DateTime(timezone=True), nullable=False)


class Notice(Base):
    """The privacy notice was sent to this conversation (once per person)."""

    __tablename__ = "privacy_notice"
    conversation_id = Column(String(64), primary_key=True)
    sent_at = Column(DateTime(timezone=True), nullable=False, index=True)


class Delivery(Base):
    __tablename__ = "inbound_delivery"
    channel = Column(String(16), primary_key=True)
    external_id = Column(String(64), primary_key=True)
    received_at = Column(DateTime(timezone=True), nullable=False, index=True)


class Pending(Base):
    """A delivery taken whose turn is not done yet: who (sealed), what (sealed) and
    which process has it since when. Deleted when the turn is done."""

    __tablename__ = "inbound_pending"
    channel = Column(String(16), primary_key=True)
    external_id = Column(String(64), primary_key=True)
    conversation_id = Column(String(64), nullable=False, index=True)
    content = Column(Text, nullable=False)  # Fernet token of JSON
    received_at = Column(DateTime(timezone=True), nullable=False, index=True)
    attempts = Column(Integer, nullable=False)  # turns started
    claimed_at = Column(DateTime(timezone=True), index=True)  # NULL: free to replay
    claimed_by = Column(String(80))  # host:pid


@dataclass(frozen=True)
class Inbound:
    """A delivery as a channel took it, to start (or replay) its turn with."""

    channel: str
    external_id: str
    address: str
    text: str
    metadata: dict | None = None


def _owned(channel: str, external_id: str, owner: str) -> tuple:
    return (
        Pending.channel == channel,
        Pending.external_id == external_id[:64],
        Pending.claimed_by == owner,
    )


def _stale(cutoff: dt.datetime) -> Any:
    return or_(Pending.claimed_at.is_(None), Pending.claimed_at < cutoff)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite gives back UTC times without their zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


class Keys:
    """The pseudonym key and the address keys, checked once."""

    def __init__(self, id_key: str, data_keys: tuple[str, ...]):
        if len(id_key) < 32:
            raise ValueError(
                "AMPARO_ID_KEY must be a secret of at least 32 characters "
                "(make keys prints one)"
            )
        self.fernet = cipher(data_keys)
        self._current = Fernet(data_keys[0].encode())
        self._id_key = id_key.encode()

    @classmethod
    def of(cls, config: Settings) -> Keys:
        return cls(config.id_key, config.data_keys)

    def pseudonym(self, channel: str, address: str) -> str:
        digest = hmac.new(
            self._id_key, f"{channel}:{address}".encode(), hashlib.sha256
        ).hexdigest()
        return f"{channel}-{digest[:32]}"

    def seal(self, address: str) -> str:
        return self.fernet.encrypt(address.encode()).decode()

    def open(self, token: str) -> str:
        return self.fernet.decrypt(token.encode()).decode()

    def is_current(self, token: str) -> bool:
        """Whether the token is sealed with the first (current) key."""
        try:
            self._current.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def reseal(self, token: str) -> str:
        """The token sealed with the current key (InvalidToken if no key opens it)."""
        return self.fernet.rotate(token.encode()).decode()


@dataclass(frozen=True)
class Offered:
    """The choices last offered: ``tag`` names that menu (a Telegram button carries
    it, so an old keyboard never picks from a newer list)."""

    tag: str = ""
    payloads: tuple[str, ...] = ()


class ContactStore:
    def __init__(self, engine: Engine, keys: Keys | None = None):
        self.keys = keys
        self._session = sessionmaker(engine, future=True, expire_on_commit=False)
        self._pruned = time.monotonic()
        Base.metadata.create_all(engine)

    def _keys(self) -> Keys:
        if self.keys is None:
            raise NoAddress("AMPARO_ID_KEY and AMPARO_DATA_KEYS are not set")
        return self.keys

    def conversation(self, channel: str, address: str) -> str:
        """The person's conversation id; keeps the address (encrypted) the first time,
        re-seals it under a new current key, replaces it when no key opens it."""
        keys = self._keys()
        conversation_id = keys.pseudonym(channel, address)

        def keep(contact: Contact) -> None:
            token, now = contact.address, _now()
            if token is not None and keys.is_current(token):
                # In use: retention keeps it (one write a day at most).
                if _aware(contact.updated_at) < now - IN_USE_EVERY:
                    contact.updated_at = now
                return
            try:
                contact.address = keys.reseal(token) if token else keys.seal(address)
            except InvalidToken:
                contact.address = keys.seal(address)
            contact.updated_at = now

        self._change(conversation_id, channel, keep)
        return conversation_id

    def _change(self, conversation_id: str, channel: str, change) -> None:
        """Applies ``change`` to the contact, created if new; two first messages at
        once both succeed (the second finds the row the first made)."""
        for attempt in (1, 2):
            try:
                with self._session() as session, session.begin():
                    contact = session.get(Contact, conversation_id)
                    if contact is None:
                        contact = Contact(
                            conversation_id=conversation_id,
                            channel=channel,
                            updated_at=_now(),
                        )
                        session.add(contact)
                    change(contact)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def address_of(self, conversation_id: str) -> str:
        with self._session() as session:
            token = session.scalar(
                select(Contact.address).where(
                    Contact.conversation_id == conversation_id
                )
            )
        if token is None:
            raise NoAddress(f"no address for {conversation_id}")
        try:
            return self._keys().open(token)
        except InvalidToken:
            raise NoAddress(
                f"{conversation_id}: the address does not decrypt"
            ) from None

    def menu(self, conversation_id: str) -> Offered:
        with self._session() as session:
            text = session.scalar(
                select(Contact.menu).where(Contact.conversation_id == conversation_id)
            )
        try:
            data = json.loads(text) if text else {}
            return Offered(str(data["tag"]), tuple(map(str, data["payloads"])))
        except (ValueError, KeyError, TypeError):
            return Offered()

    def set_menu(self, conversation_id: str, channel: str, offered: Offered) -> None:
        """What a number reply means from now on (nothing, if nothing is offered).
        An empty menu creates no contact: after "delete my data" nothing is kept."""
        if not offered.payloads:
            with self._session() as session, session.begin():
                session.execute(
                    update(Contact)
                    .where(
                        Contact.conversation_id == conversation_id,
                        Contact.menu.is_not(None),
                    )
                    .values(menu=None, updated_at=_now())
                )
            return
        menu = json.dumps({"tag": offered.tag, "payloads": offered.payloads[:MAX_MENU]})

        def keep(contact: Contact) -> None:
            if contact.menu != menu:
                contact.menu, contact.updated_at = menu, _now()

        self._change(conversation_id, channel, keep)

    def noticed(self, conversation_id: str) -> bool:
        """Whether the privacy notice was sent to this conversation."""
        with self._session() as session:
            return session.get(Notice, conversation_id) is not None

    def mark_noticed(self, conversation_id: str) -> None:
        try:
            with self._session() as session, session.begin():
                session.add(Notice(conversation_id=conversation_id, sent_at=_now()))
        except IntegrityError:  # two turns at once: sent already
            pass

    def erase(self, conversation_id: str) -> int:
        """Forgets the person: their address, menu, notice and any message of theirs
        still journalled. Rows deleted."""
        with self._session() as session, session.begin():
            return sum(
                session.execute(
                    delete(model).where(model.conversation_id == conversation_id)
                ).rowcount
                for model in (Contact, Notice, Pending)
            )

    def expire(self, before: dt.datetime, keep: Iterable[str] = ()) -> int:
        """Retention: forgets contacts unused, notices sent and messages journalled
        before ``before``, except the conversations in ``keep`` (people with an open
        case)."""
        keep = list(keep)
        with self._session() as session, session.begin():
            return sum(
                session.execute(
                    delete(model).where(
                        column < before, model.conversation_id.not_in(keep)
                    )
                ).rowcount
                for model, column in (
                    (Contact, Contact.updated_at),
                    (Notice, Notice.sent_at),
                    (Pending, Pending.received_at),
                )
            )

    def reseal_all(self) -> int:
        """Key rotation: every address and journalled message sealed with the
        current key; an address no key opens is dropped (the person's next message
        stores it again). Rows changed."""
        keys, changed = self._keys(), 0
        with self._session() as session, session.begin():
            for contact in session.scalars(
                select(Contact).where(Contact.address.is_not(None))
            ):
                if keys.is_current(contact.address):
                    continue
                try:
                    contact.address = keys.reseal(contact.address)
                except InvalidToken:
                    contact.address = None
                changed += 1
            for entry in session.scalars(select(Pending)):  # the journal too
                if not keys.is_current(entry.content):
                    with contextlib.suppress(InvalidToken):  # given up when claimed
                        entry.content = keys.reseal(entry.content)
                        changed += 1
        return changed

    def take_delivery(self, inbound: Inbound, owner: str) -> bool:
        """Records a delivery as taken by ``owner`` and journals it until its turn is
        :meth:`done`; False when it was taken already. Ids older than
        :data:`SEEN_DAYS` are forgotten now and then."""
        if time.monotonic() > self._pruned + PRUNE_EVERY_SECONDS:
            self._pruned = time.monotonic()
            self.prune_deliveries()
        keys, external_id, now = self._keys(), inbound.external_id[:64], _now()
        content = {
            "address": inbound.address,
            "text": inbound.text,
            "metadata": inbound.metadata,
        }
        try:
            with self._session() as session, session.begin():
                session.add(
                    Delivery(
                        channel=inbound.channel,
                        external_id=external_id,
                        received_at=now,
                    )
                )
                session.flush()  # a second delivery stops here
                session.add(
                    Pending(
                        received_at=now,
                        channel=inbound.channel,
                        external_id=external_id,
                        conversation_id=keys.pseudonym(
                            inbound.channel, inbound.address
                        ),
                        content=keys.seal(json.dumps(content)),
                        attempts=1,
                        claimed_at=now,
                        claimed_by=owner,
                    )
                )
        except IntegrityError:
            return False
        return True

    def done(self, channel: str, external_id: str, owner: str) -> None:
        """``owner``'s turn of the delivery is over: its journal entry goes."""
        with self._session() as session, session.begin():
            session.execute(delete(Pending).where(*_owned(channel, external_id, owner)))

    def release(self, channel: str, external_id: str, owner: str) -> None:
        """``owner``'s turn of the delivery failed: it is free to be replayed."""
        with self._session() as session, session.begin():
            session.execute(
                update(Pending)
                .where(*_owned(channel, external_id, owner))
                .values(claimed_at=None)
            )

    def renew(self, channel: str, owner: str, running: Iterable[str]) -> None:
        """``owner`` is alive and still has these deliveries' turns."""
        running = [r[:64] for r in running]
        if not running:
            return
        with self._session() as session, session.begin():
            session.execute(
                update(Pending)
                .where(
                    Pending.channel == channel,
                    Pending.claimed_by == owner,
                    Pending.claimed_at.is_not(None),
                    Pending.external_id.in_(running),
                )
                .values(claimed_at=_now())
            )

    def claim_stale(
        self,
        channel: str,
        owner: str,
        older_than: dt.timedelta,
        running: Iterable[str] = (),
        limit: int = 20,
    ) -> tuple[list[Inbound], int]:
        """The journalled deliveries of ``channel`` whose turn failed, or whose
        process has not renewed it for ``older_than`` (it is gone), oldest first,
        now claimed by ``owner``, except ids in ``running``; and how many were given
        up: started :data:`MAX_ATTEMPTS` times, or no key opens them."""
        cutoff = _now() - older_than
        claimed, given_up = [], 0
        for row in self.stale(channel, cutoff, running, limit):
            inbound, gone = self.claim(row, owner, cutoff)
            claimed += [inbound] if inbound else []
            given_up += gone
        return claimed, given_up

    def stale(
        self,
        channel: str,
        cutoff: dt.datetime,
        running: Iterable[str] = (),
        limit: int = 20,
    ) -> list[Pending]:
        """Journal entries free to replay: released, or not renewed since
        ``cutoff``; oldest first."""
        with self._session() as session:
            return session.scalars(
                select(Pending)
                .where(
                    Pending.channel == channel,
                    _stale(cutoff),
                    Pending.external_id.not_in([r[:64] for r in running]),
                )
                .order_by(Pending.received_at)
                .limit(limit)
            ).all()

    def claim(
        self, row: Pending, owner: str, cutoff: dt.datetime
    ) -> tuple[Inbound | None, int]:
        """The entry, claimed by ``owner`` if it is still as :meth:`stale` read it
        (not claimed or renewed since by anyone: one claimer wins), and 1 if it
        was given up instead."""
        unchanged = (
            Pending.channel == row.channel,
            Pending.external_id == row.external_id,
            Pending.attempts == row.attempts,
            _stale(cutoff),
        )
        try:
            content = json.loads(self._keys().open(row.content))
        except (InvalidToken, ValueError):
            content = None
        with self._session() as session, session.begin():
            if content is None or row.attempts >= MAX_ATTEMPTS:
                gone = session.execute(delete(Pending).where(*unchanged)).rowcount
                return None, gone
            won = session.execute(
                update(Pending)
                .where(*unchanged)
                .values(attempts=row.attempts + 1, claimed_at=_now(), claimed_by=owner)
            ).rowcount
        if not won:
            return None, 0
        return Inbound(
            row.channel,
            row.external_id,
            content["address"],
            content["text"],
            content["metadata"],
        ), 0

    def prune_deliveries(self, now: dt.datetime | None = None) -> int:
        before = (now or _now()) - dt.timedelta(days=SEEN_DAYS)
        with self._session() as session, session.begin():
            return sum(
                session.execute(
                    delete(model).where(model.received_at < before)
                ).rowcount
                for model in (Delivery, Pending)
            )


@cache
def contacts() -> ContactStore:
    """On the case store's database (tests point AMPARO_CASES_DB elsewhere)."""
    from amparo.handoff import case_store

    config = settings()
    # The data keys alone (encryption at rest, no phone channel) need no pseudonyms.
    keys = Keys.of(config) if config.id_key else None
    return ContactStore(case_store().engine, keys)


def new_keys() -> str:
    """Lines for an environment file: a fresh pseudonym key and address key."""
    import secrets

    return (
        f"AMPARO_ID_KEY={secrets.token_urlsafe(48)}\n"
        f"AMPARO_DATA_KEYS={Fernet.generate_key().decode()}\n"
    )


if __name__ == "__main__":
    print(new_keys(), end="")
