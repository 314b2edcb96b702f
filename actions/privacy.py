"""\"Delete my data\" (amparo.privacy); the notice is said by the channels."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from amparo.privacy import erase_person


class ActionEraseData(Action):
    """Erases everything kept about the person, once they confirmed; the tracker
    store then keeps nothing of this turn either (bot/trackers.py)."""

    def name(self) -> str:
        return "action_erase_data"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        try:
            erased = await asyncio.to_thread(erase_person, tracker.sender_id)
        except SQLAlchemyError:
            logging.getLogger(__name__).exception("a person's data was not erased")
            dispatcher.utter_message(response="utter_erase_failed")
            return []
        logging.getLogger(__name__).info(
            "erased at the person's request: %d case(s), %d event(s)",
            erased.cases,
            erased.events,
        )
        dispatcher.utter_message(response="utter_data_erased")
        return [SlotSet("erased", True)]
