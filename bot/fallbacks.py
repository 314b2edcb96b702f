"""What the Rasa server does itself when the action server cannot run an action (down,
restarting, or slower than :data:`ACTION_SECONDS`).

Rasa 3.6.21 logs the failure and goes on as if nothing had been said: a person who has
just disclosed violence would get silence. Instead, installed on ``RemoteAction.run``:

- ``action_emergency_numbers``: the numbers, from amparo (no action server needed);
- ``action_open_case``: the case is opened here, on the same case store, with the same
  code the action server runs (amparo.handoff.open_case_for), so consent still reaches
  a caseworker;
- ``action_erase_data``: the person is erased here (amparo.privacy.erase_person), so
  the tracker store keeps nothing of them either, even when the action server erased
  them too but answered too late;
- anything else: one short "please write again in a minute" per turn.

A form's validation that rejects a slot (ActionExecutionRejection) is not a failure
and goes through untouched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from rasa.core.actions.action import (
    ActionExecutionRejection,
    RemoteAction,
    create_bot_utterance,
)
from rasa.shared.core.events import BotUttered, Event, SlotSet, UserUttered
from rasa.shared.exceptions import RasaException
from sqlalchemy.exc import SQLAlchemyError

from amparo.handoff import emergency_reply, open_case_for
from amparo.privacy import erase_person
from bot.trackers import ERASED_SLOT

logger = logging.getLogger(__name__)

# Rasa waits 5 minutes for the action server; a person on Twilio must hear within 15 s.
ACTION_SECONDS = 8.0
TRY_AGAIN = "utter_try_again"
ERASE = "action_erase_data"
DEFAULT_LANGUAGE = "es"
_remote_run = RemoteAction.run


async def run(
    self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any, domain: Any
) -> list[Event]:
    try:
        return await asyncio.wait_for(
            _remote_run(self, output_channel, nlg, tracker, domain), ACTION_SECONDS
        )
    except ActionExecutionRejection:
        raise
    except (RasaException, asyncio.TimeoutError) as problem:
        logger.error(
            "action server: %s failed (%s); answered here", self.name(), problem
        )
    if self.name() == ERASE:
        return await erase_here(nlg, tracker, output_channel.name())
    response, values = await in_process(self.name(), tracker, output_channel.name())
    return await _say(nlg, tracker, output_channel.name(), response, values)


async def _say(
    nlg: Any, tracker: Any, channel: str, response: str | None, values: dict
) -> list[Event]:
    if response is None:
        return []
    message = await nlg.generate(response, tracker, channel, **values)
    if not message:
        return []
    message["utter_action"] = response
    return [create_bot_utterance(message)]


async def erase_here(nlg: Any, tracker: Any, channel: str) -> list[Event]:
    """``action_erase_data`` without the action server (actions/privacy.py)."""
    try:
        await asyncio.to_thread(erase_person, tracker.sender_id)
    except SQLAlchemyError:
        logger.exception("a person's data was not erased")
        return await _say(nlg, tracker, channel, "utter_erase_failed", {})
    said = await _say(nlg, tracker, channel, "utter_data_erased", {})
    return [*said, SlotSet(ERASED_SLOT, True)]


async def in_process(
    name: str, tracker: Any, channel: str
) -> tuple[str | None, dict[str, str]]:
    """The response (and its values) the Rasa server gives for action ``name``."""
    language = tracker.get_slot("language") or DEFAULT_LANGUAGE
    country = tracker.get_slot("country")
    if name == "action_emergency_numbers":
        return emergency_reply(country, language)
    if name == "action_open_case":
        return await asyncio.to_thread(
            open_case_for,
            conversation_id=tracker.sender_id,
            channel=tracker.get_latest_input_channel() or channel,
            language=language,
            country=country,
            place=tracker.get_slot("place"),
            events=[event.as_dict() for event in tracker.events],
            now=dt.datetime.now(dt.timezone.utc),
        )
    if _said_this_turn(tracker, TRY_AGAIN):
        return None, {}
    return TRY_AGAIN, {}


def _said_this_turn(tracker: Any, response: str) -> bool:
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if (
            isinstance(event, BotUttered)
            and event.metadata.get("utter_action") == response
        ):
            return True
    return False


def install() -> None:
    RemoteAction.run = run
