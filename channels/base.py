"""What every channel does with a person's message, whatever the channel.

While the person has an open case (amparo.cases), the message goes to the case, stored
before the channel acknowledges it, and the bot stays silent: it never answers over a
caseworker. The one exception is safety: danger or thoughts of self-harm written while
nobody has joined yet get the emergency numbers at once (and the case's urgency goes
up). Otherwise the message goes to the bot.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage

from amparo.cases import QUEUED, Case, NotFound
from amparo.cues import disclosure_in
from amparo.geo import parse_coordinates
from amparo.handoff import case_store, emergency_text

logger = logging.getLogger(__name__)

PIN_PAYLOAD = "/share_location"
URGENT = {"danger", "self_harm"}


class AmparoInput(InputChannel):
    """Base of our channels: subclasses parse their requests and call :meth:`route`."""

    async def route(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        *,
        sender: str,
        text: str,
        output: OutputChannel,
        metadata: dict | None = None,
    ) -> bool:
        """Hands the message to the person's open case or to the bot. True when it went
        to a case. Raises when it could be neither stored nor handled, so the channel
        can refuse it (and the sender retry) instead of losing it."""
        case = await asyncio.to_thread(case_store().open_case_of, sender)
        if case is not None:
            try:
                await self._to_case(case, sender, text, output)
                return True
            except NotFound:  # closed a moment ago: the bot answers again
                pass
        await on_new_message(
            UserMessage(
                text, output, sender, input_channel=self.name(), metadata=metadata
            )
        )
        return False

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
            try:
                await output.send_text_message(
                    sender, emergency_text(case.country, case.language)
                )
            except Exception:  # stored already: a retry must not store it twice
                logger.exception(
                    "case %s: the emergency numbers were not sent", case.id
                )


def case_text(text: str) -> str:
    """A message as a caseworker reads it: a shared location as a rounded pin (about
    1 km: enough to send help nearby, not a doorstep), other button payloads as the
    bare choice."""
    text = (text or "").strip()
    if text.startswith(PIN_PAYLOAD):
        pin = shared_pin(text)
        return f"📍 {pin[0]:.2f}, {pin[1]:.2f}" if pin else "📍"
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
