"""What every channel does with a person's message, whatever the channel.

While the person has an open case (amparo.cases), the message goes to the case, stored
before the channel acknowledges it, and the bot stays silent: it never answers over a
caseworker. The exceptions are safety: danger or thoughts of self-harm written while
nobody has joined yet get the emergency numbers at once (and the case's urgency goes
up), and "SALIR" gets the quick-exit advice. Otherwise the message goes to the bot, and
after the bot's first answer to a person comes the privacy notice, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import socket
import weakref
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from rasa.core.actions.action import create_bot_utterance
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from amparo.cases import QUEUED, Case, NotFound
from amparo.catalog import LANGUAGES
from amparo.contacts import Inbound, Keys, contacts
from amparo.cues import disclosure_in
from amparo.geo import parse_coordinates, pin_text
from amparo.handoff import case_store, emergency_text
from amparo.language import command_in
from amparo.privacy import notice_values, sharing_statement
from amparo.responses import responses
from amparo.sealing import ciphers
from amparo.settings import settings
from channels.outbound import DeliveryError, PhoneSender, missing
from channels.render import PIN_PAYLOAD, Menu, choice, is_choice

logger = logging.getLogger(__name__)

URGENT = {"danger", "self_harm"}
# Per person, while a turn on a channel with menus runs: in the lock store under this
# key's suffix (polled every TURN_WAIT_SECONDS while another turn runs), or, with no
# agent, here (weak: gone when unused).
TURN_KEY, TURN_WAIT_SECONDS = ":turn", 0.05
_turn_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
    weakref.WeakValueDictionary()
)
# Twilio gives up on a webhook after 15 s, Telegram resends an unanswered update: the
# channel answers by then and the bot finishes the turn in the background.
ANSWER_WITHIN_SECONDS = 8
SEND_ATTEMPTS = 3
# Who takes a delivery, in the journal: this process.
OWNER = f"{socket.gethostname()}:{os.getpid()}"
# Sent to the bot for a photo, voice note, sticker...: answered kindly in the person's
# language (bot/domain/basics.yml).
MEDIA_PAYLOAD = "/send_media"
NOTICE = "utter_privacy_notice"
# What a command word alone gets while a caseworker has the conversation.
IN_CASE_REPLIES = {"quick_exit": "utter_restart", "delete_data": "utter_erase_in_case"}


def agent_of(request: Request) -> Any:
    """The Rasa agent serving this request (None in a bare Sanic app)."""
    return getattr(request.app.ctx, "agent", None)


class AmparoInput(InputChannel):
    """Base of our channels: subclasses parse their requests and call :meth:`route`."""

    def __init__(self) -> None:
        # A person's messages to a case are encrypted at rest: no channel without the
        # keys (Rasa then refuses to start, saying which setting is missing); nor
        # with an operator's sharing statement the notice could not say.
        ciphers()
        for language in LANGUAGES:
            sharing_statement(language)

    async def route(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        *,
        sender: str,
        text: str,
        output: OutputChannel,
        metadata: dict | None = None,
        agent: Any = None,
    ) -> bool:
        """Hands the message to the person's open case or to the bot. True when it went
        to a case. Raises when it could be neither stored nor handled, so the channel
        can refuse it (and the sender retry) instead of losing it. ``agent`` (Rasa's)
        sends the privacy notice after the bot's first answer to this person.

        On channels without buttons (``output.menu``), a number reply means that
        choice of the last menu, and this turn's choices become the menu."""
        menu: Menu | None = getattr(output, "menu", None)
        if menu is None:
            return await self._route(
                on_new_message, sender, text, output, metadata, agent
            )
        # One turn at a time per person, so "2" reads the menu of the turn before
        # it, not of one still running.
        async with _turn_lock(agent, sender):
            to_case = await self._route(
                on_new_message, sender, text, output, metadata, agent, menu
            )
            try:
                offered = Menu().offered() if to_case else menu.offered()
                await asyncio.to_thread(
                    contacts().set_menu, sender, self.name(), offered
                )
            except Exception:  # handled already: only the next number is affected
                logger.exception("%s: the menu was not kept", self.name())
        return to_case

    async def _route(
        self, on_new_message, sender, text, output, metadata, agent, menu=None
    ):
        case = await asyncio.to_thread(case_store().open_case_of, sender)
        if case is not None:
            try:
                await self._to_case(case, sender, text, output)
                return True
            except NotFound:  # closed a moment ago: the bot answers again
                pass
        if menu is not None and is_choice(text):
            offered = await asyncio.to_thread(contacts().menu, sender)
            text = choice(text, offered, typed=not menu.has_buttons)
        first = agent is not None and not await asyncio.to_thread(
            contacts().noticed, sender
        )
        await on_new_message(
            UserMessage(
                text, output, sender, input_channel=self.name(), metadata=metadata
            )
        )
        if first:
            await self._notice(agent, sender, output)
        return False

    async def _notice(self, agent: Any, sender: str, output: OutputChannel) -> None:
        """The privacy notice, after the answer (numbers first for someone in
        danger), said by this server with Rasa's own response generator: no action
        server needed. It is added to the conversation as words only (no action), so
        the dialogue state the policies read is the one the answer left. Kept as sent
        only when it was; not after a turn that erased the person."""
        try:
            async with agent.lock_store.lock(sender):
                tracker = await agent.tracker_store.retrieve(sender)
                if tracker is None:  # erased in this turn: nothing is stored again
                    return
                language = tracker.get_slot("language") or LANGUAGES[0]
                message = await agent.nlg.generate(
                    NOTICE, tracker, output.name(), **notice_values(language)
                )
                if not message or not message.get("text"):
                    return
                given_up = getattr(output, "given_up", 0)
                await output.send_text_message(sender, message["text"])
                if getattr(output, "given_up", 0) > given_up:
                    return  # not delivered: tried again after the next answer
                message["utter_action"] = NOTICE
                tracker.update(create_bot_utterance(message))
                await agent.tracker_store.save(tracker)
            await asyncio.to_thread(contacts().mark_noticed, sender)
        except Exception:  # answered already: only the notice is late
            logger.exception("%s: the privacy notice was not sent", self.name())

    async def _to_case(
        self, case: Case, sender: str, text: str, output: OutputChannel
    ) -> None:
        shown = case_text(text)
        if not shown:
            return
        category = disclosure_in(shown)
        await asyncio.to_thread(
            case_store().add_person_message,
            case_id=case.id,
            text=shown,
            category=category,
        )
        if category in URGENT and case.status == QUEUED:
            reply = emergency_text(case.country, case.language)
        elif command := IN_CASE_REPLIES.get(command_in(shown)):
            # The caseworker reads "SALIR" or "BORRAR" too, and knows what it asks.
            reply = responses().text(command, case.language)
        else:
            return
        try:
            await output.send_text_message(sender, reply)
        except Exception:  # stored already: a retry must not store it twice
            logger.exception("case %s: a safety reply was not sent", case.id)


def _turn_lock(agent: Any, sender: str) -> AbstractAsyncContextManager:
    """The person's turn lock: Rasa's lock store under a key of its own (Rasa holds
    the conversation's own key inside the turn), so with Redis it holds across every
    Rasa process; without an agent, this process's."""
    if agent is not None:
        return agent.lock_store.lock(
            f"{sender}{TURN_KEY}", wait_time_in_seconds=TURN_WAIT_SECONDS
        )
    return _turn_locks.setdefault(sender, asyncio.Lock())


class PhoneInput(AmparoInput):
    """Base of the channels a phone platform calls (Twilio, Telegram): every delivery
    is taken once (a repeated id gets no second reply), the person's address becomes
    a pseudonymous conversation id (amparo.contacts), and the platform gets its answer
    within :data:`ANSWER_WITHIN_SECONDS` whatever the bot is doing.

    A delivery is journalled (sealed) before the platform hears "received" and until
    its turn is done. A turn that fails is started again at once, and one whose Rasa
    process died (it stopped renewing its claim) is taken up by any running one after
    AMPARO_REPLAY_AFTER_SECONDS: a message is handled at least once (a turn cut short
    after its replies went out is done again); after
    :data:`amparo.contacts.MAX_ATTEMPTS` starts it is given up, and logged."""

    def __init__(self) -> None:
        super().__init__()
        self._turns: set[asyncio.Task] = set()
        self._running: set[str] = set()  # delivery ids with a turn in this process
        self._undone: set[str] = set()  # and those done but not marked so yet
        self.config = settings()
        unset = missing(self.config, self.name())
        self.ready = not unset
        if self.ready:
            Keys.of(self.config)  # no phone channel without its keys: say so now
            self.sender = self.make_sender()
        else:
            logger.info("%s is off: it needs %s", self.name(), ", ".join(unset))

    @classmethod
    def from_credentials(cls, credentials: dict | None) -> PhoneInput:
        return cls()  # settings come from the environment (amparo/settings.py)

    def make_sender(self) -> PhoneSender:
        raise NotImplementedError

    def output_for(self, conversation: str, address: str) -> PhoneOutput:
        """The replies of the turn that ``address`` (``conversation``) started."""
        raise NotImplementedError

    async def receive(
        self,
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> HTTPResponse:
        """Checks, parses and :meth:`take` s one webhook request."""
        raise NotImplementedError

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        blueprint = Blueprint(f"{self.name()}_webhook", __name__)

        @blueprint.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.ready else "off"})

        @blueprint.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if not self.ready:
                return response.json({"error": "not configured"}, status=503)
            return await self.receive(request, on_new_message)

        @blueprint.listener("after_server_start")
        async def replaying(app, loop) -> None:
            if self.ready:
                self.in_background(self.replay(on_new_message, app))

        @blueprint.listener("after_server_stop")
        async def closing(app, loop) -> None:
            if self.ready:
                await self.sender.close()

        return blueprint

    async def take(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        *,
        delivery_id: str,
        address: str,
        text: str,
        metadata: dict | None = None,
        agent: Any = None,
    ) -> HTTPResponse | None:
        """Handles one delivery; None when it is journalled (done, going on in the
        background, or to be started again: the platform is told "received"), a 503
        when it could not even be journalled (the platform may deliver it again)."""
        inbound = Inbound(self.name(), delivery_id, address, text, metadata)
        try:
            first = await asyncio.to_thread(contacts().take_delivery, inbound, OWNER)
        except Exception:  # the database away for a moment: let the channel retry
            logger.exception("%s: a delivery could not be recorded", self.name())
            return response.json({"error": "temporarily unavailable"}, status=503)
        if first:
            task = self.in_background(self._take(on_new_message, inbound, agent))
            try:
                await asyncio.wait_for(asyncio.shield(task), ANSWER_WITHIN_SECONDS)
            except asyncio.TimeoutError:
                logger.warning("%s: a slow turn goes on in the background", self.name())
            except Exception:  # logged by _finished; started again by replay
                pass
        return None

    def in_background(self, work: Awaitable[Any]) -> asyncio.Task:
        """Runs ``work`` without holding up the answer to the platform (kept until
        done, its failure logged)."""
        task = asyncio.ensure_future(work)
        self._turns.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._turns.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "%s: a message could not be handled",
                self.name(),
                exc_info=task.exception(),
            )

    async def _take(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        inbound: Inbound,
        agent: Any,
    ) -> None:
        channel, delivery = self.name(), inbound.external_id
        self._running.add(delivery)
        try:
            sender = await asyncio.to_thread(
                contacts().conversation, channel, inbound.address
            )
            await self.route(
                on_new_message,
                sender=sender,
                text=inbound.text,
                output=self.output_for(sender, inbound.address),
                metadata=inbound.metadata,
                agent=agent,
            )
        except BaseException:
            try:  # started again at the next replay
                await asyncio.to_thread(contacts().release, channel, delivery, OWNER)
            except Exception:  # the database away: replayed once the lease is over
                logger.exception("%s: a failed turn was not released", channel)
            raise
        finally:
            self._running.discard(delivery)
        self._undone.add(delivery)  # kept renewed until the journal says done
        await asyncio.to_thread(contacts().done, channel, delivery, OWNER)
        self._undone.discard(delivery)

    async def replay(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]], app: Any
    ) -> None:
        """For as long as the server runs: keeps this process's turns in the
        journal marked as alive (and marks done those it could not), and starts
        again, oldest first and one at a time, the journalled turns that failed or
        that a process which is gone (it stopped marking them) had started."""
        after = dt.timedelta(seconds=self.config.replay_after_seconds)
        every = min(5.0, self.config.replay_after_seconds / 4)
        store, channel = contacts(), self.name()
        while True:
            await asyncio.sleep(every)
            try:
                for delivery in list(self._undone):
                    await asyncio.to_thread(store.done, channel, delivery, OWNER)
                    self._undone.discard(delivery)
                mine = self._running | self._undone
                await asyncio.to_thread(store.renew, channel, OWNER, mine)
                claimed, given_up = await asyncio.to_thread(
                    store.claim_stale, channel, OWNER, after, mine
                )
            except Exception:  # the database away: next time
                logger.exception("%s: the journal could not be read", channel)
                continue
            if given_up:
                logger.error("%s: %d message(s) given up", channel, given_up)
            if claimed:
                agent = getattr(app.ctx, "agent", None)
                self._running |= {inbound.external_id for inbound in claimed}
                self.in_background(self._in_order(on_new_message, claimed, agent))

    async def _in_order(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        claimed: list[Inbound],
        agent: Any,
    ) -> None:
        """Replayed turns, one after the other (renewed meanwhile: running)."""
        for inbound in claimed:
            logger.warning("%s: a message is handled again", self.name())
            with contextlib.suppress(Exception):  # logged by _finished
                await self.in_background(self._take(on_new_message, inbound, agent))


class PhoneOutput(OutputChannel):
    """The bot's replies on a phone channel, through the same senders the caseworker
    desk uses (channels/outbound.py); ``menu`` decides how choices show (numbered on
    SMS and WhatsApp, buttons on Telegram). The turn's own ``address`` is used as
    it came, not looked up again: the answer to "delete my data" still reaches the
    person after their stored address is gone."""

    def __init__(
        self,
        channel: str,
        sender: PhoneSender,
        menu: Menu,
        conversation: str,
        address: str,
    ):
        self.channel, self.sender, self.menu = channel, sender, menu
        self.conversation, self.address = conversation, address
        self.given_up = 0  # replies not delivered after every try

    def name(self) -> str:  # type: ignore[override]
        return self.channel

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        await self._send(recipient_id, text, None)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict], **kwargs: Any
    ) -> None:
        await self._send(recipient_id, *self.menu.show(text, buttons))

    async def _send(self, recipient_id: str, text: str, buttons) -> None:
        """A few tries, then the reply is given up (logged without the address); the
        turn goes on, as its other replies must not be sent twice by a replay."""
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                if recipient_id == self.conversation:
                    await self.sender.deliver(self.address, text, buttons)
                else:
                    await self.sender.send(recipient_id, text, buttons)
                return
            except DeliveryError as problem:
                if attempt == SEND_ATTEMPTS:
                    self.given_up += 1
                    logger.error(
                        "%s: a reply to %s was not delivered: %s",
                        self.channel,
                        recipient_id,
                        problem,
                    )
                    return
                await asyncio.sleep(0.5 * attempt)


def case_text(text: str) -> str:
    """A message as a caseworker reads it: a shared location as a rounded pin (about
    1 km: enough to send help nearby, not a doorstep), other button payloads as the
    bare choice."""
    text = (text or "").strip()
    if text.startswith(PIN_PAYLOAD):
        pin = shared_pin(text)
        return f"📍 {pin[0]:.2f}, {pin[1]:.2f}" if pin else "📍"
    if text == MEDIA_PAYLOAD:
        return "📎"
    if text.startswith("/"):
        return text[1:].split("{", 1)[0]
    return text


def shared_pin(text: str) -> tuple[float, float] | None:
    """The position in a location pin payload (``/share_location{"location": ...}``),
    or None when it has none that makes sense."""
    try:
        data = json.loads(text[len(PIN_PAYLOAD) :])
    except ValueError:
        return None
    return parse_coordinates(data.get("location")) if isinstance(data, dict) else None


def coarse_pin(text: str) -> str:
    """A location pin payload with its coordinates rounded to about 1 km, whatever the
    client sent: the exact position never reaches the bot or its store."""
    return _pin_payload(shared_pin(text)) if text.startswith(PIN_PAYLOAD) else text


def pin_payload(latitude: object, longitude: object) -> str:
    """The payload for a position a platform sent, rounded (:func:`coarse_pin`)."""
    return _pin_payload(parse_coordinates(f"{latitude},{longitude}"))


def _pin_payload(pin: tuple[float, float] | None) -> str:
    if pin is None:
        return PIN_PAYLOAD  # no usable position: the bot asks where they are
    return PIN_PAYLOAD + json.dumps({"location": pin_text(*pin)})
