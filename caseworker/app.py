"""The caseworker desk: a JSON API over the case store (the console in the browser is
built on it), and the background work that keeps people informed: delivering what the
team writes on push channels, in order, with retries, and telling people still waiting
that nobody is free yet.

Every /api route but login needs ``Authorization: Bearer <token>`` from POST
/api/login. A caseworker sees the cases of their teams; a supervisor sees all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from amparo.cases import (
    OUTCOMES,
    TEAMS,
    Case,
    CaseError,
    CaseMessage,
    CaseStore,
    Caseworker,
    aware,
    utcnow,
)
from amparo.handoff import lines_for
from amparo.responses import responses
from amparo.settings import Settings
from channels.outbound import DeliveryError, Sender

logger = logging.getLogger(__name__)

DELIVERY_EVERY_SECONDS = 1.0
WAITING_CHECK_EVERY_SECONDS = 10.0


def create_app(
    store: CaseStore, config: Settings, senders: dict[str, Sender], name: str = "desk"
) -> Sanic:
    app = Sanic(name)
    app.config.FALLBACK_ERROR_FORMAT = "json"

    def authenticated(
        handler: Callable[..., Awaitable[HTTPResponse]],
    ) -> Callable[..., Awaitable[HTTPResponse]]:
        @wraps(handler)
        async def checked(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            scheme, _, token = (request.headers.get("authorization") or "").partition(
                " "
            )
            caseworker = None
            if scheme.lower() == "bearer" and token:
                caseworker = await asyncio.to_thread(store.caseworker_for, token)
            if caseworker is None:
                return response.json({"error": "log in first"}, status=401)
            try:
                return await handler(request, caseworker, *args, **kwargs)
            except CaseError as problem:
                return response.json({"error": str(problem)}, status=problem.status)

        return checked

    def body(request: Request) -> dict:
        try:
            data = request.json
        except Exception:  # Sanic raises its own InvalidUsage on bad JSON
            data = None
        if not isinstance(data, dict):
            raise CaseError("expected a JSON object")
        return data

    def text_of(request: Request) -> str:
        text = body(request).get("text")
        if not isinstance(text, str):
            raise CaseError("'text' must be a string")
        return text

    async def tell(
        me: Caseworker, case_id: int, change: Callable[..., Case], notice: str, **more
    ) -> HTTPResponse:
        """A change to a case that the person is told about, in their language."""
        case = await asyncio.to_thread(store.case, case_id, me, audit=False)
        case = await asyncio.to_thread(
            change,
            case_id=case_id,
            caseworker=me,
            notice=responses().text(notice, case.language),
            **more,
        )
        names = await asyncio.to_thread(store.caseworker_names)
        return response.json({"case": case_json(case, names)})

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @app.post("/api/login")
    async def login(request: Request) -> HTTPResponse:
        try:
            data = body(request)
        except CaseError as problem:
            return response.json({"error": str(problem)}, status=400)
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return response.json({"error": "username and password"}, status=400)
        token = await asyncio.to_thread(store.log_in, username, password)
        if token is None:
            # The same answer for a wrong name, a wrong password, a locked account.
            return response.json({"error": "wrong name or password"}, status=401)
        return response.json({"token": token})

    @app.post("/api/logout")
    @authenticated
    async def logout(request: Request, me: Caseworker) -> HTTPResponse:
        token = request.headers["authorization"].partition(" ")[2]
        await asyncio.to_thread(store.log_out, token)
        return response.json({"status": "logged out"})

    @app.get("/api/me")
    @authenticated
    async def whoami(request: Request, me: Caseworker) -> HTTPResponse:
        return response.json(
            {
                "username": me.username,
                "name": me.display_name,
                "role": me.role,
                "teams": list(me.team_list),
                "all_teams": list(TEAMS),
                "outcomes": list(OUTCOMES),
            }
        )

    @app.get("/api/cases")
    @authenticated
    async def queue(request: Request, me: Caseworker) -> HTTPResponse:
        cases = await asyncio.to_thread(
            store.queue, me, include_closed=request.args.get("closed") == "1"
        )
        names = await asyncio.to_thread(store.caseworker_names)
        return response.json({"cases": [case_json(c, names) for c in cases]})

    @app.get("/api/cases/<case_id:int>")
    @authenticated
    async def conversation(
        request: Request, me: Caseworker, case_id: int
    ) -> HTTPResponse:
        case = await asyncio.to_thread(store.case, case_id, me)
        messages = await asyncio.to_thread(store.messages, case_id)
        notes = await asyncio.to_thread(store.notes, case_id)
        names = await asyncio.to_thread(store.caseworker_names)
        return response.json(
            {
                "case": case_json(case, names),
                "messages": [message_json(m, names) for m in messages],
                "notes": [
                    {
                        "id": n.id,
                        "by": names.get(n.caseworker_id),
                        "text": n.text,
                        "at": iso(n.created_at),
                    }
                    for n in notes
                ],
            }
        )

    @app.post("/api/cases/<case_id:int>/claim")
    @authenticated
    async def claim(request: Request, me: Caseworker, case_id: int) -> HTTPResponse:
        return await tell(me, case_id, store.claim, "utter_caseworker_joined")

    @app.post("/api/cases/<case_id:int>/messages")
    @authenticated
    async def reply(request: Request, me: Caseworker, case_id: int) -> HTTPResponse:
        message = await asyncio.to_thread(
            store.reply, case_id=case_id, caseworker=me, text=text_of(request)
        )
        names = await asyncio.to_thread(store.caseworker_names)
        return response.json({"message": message_json(message, names)}, status=201)

    @app.post("/api/cases/<case_id:int>/messages/<message_id:int>/retry")
    @authenticated
    async def retry(
        request: Request, me: Caseworker, case_id: int, message_id: int
    ) -> HTTPResponse:
        await asyncio.to_thread(
            store.retry, case_id=case_id, message_id=message_id, caseworker=me
        )
        return response.json({"status": "queued"})

    @app.post("/api/cases/<case_id:int>/notes")
    @authenticated
    async def note(request: Request, me: Caseworker, case_id: int) -> HTTPResponse:
        added = await asyncio.to_thread(
            store.add_note, case_id=case_id, caseworker=me, text=text_of(request)
        )
        return response.json({"note": {"id": added.id, "text": added.text}}, status=201)

    @app.post("/api/cases/<case_id:int>/transfer")
    @authenticated
    async def transfer(request: Request, me: Caseworker, case_id: int) -> HTTPResponse:
        data = body(request)
        to_username, to_team = data.get("caseworker"), data.get("team")
        if not all(v is None or isinstance(v, str) for v in (to_username, to_team)):
            raise CaseError("'caseworker' and 'team' are names")
        return await tell(
            me,
            case_id,
            store.transfer,
            "utter_caseworker_transferred",
            to_username=to_username,
            to_team=to_team,
        )

    @app.post("/api/cases/<case_id:int>/close")
    @authenticated
    async def close(request: Request, me: Caseworker, case_id: int) -> HTTPResponse:
        outcome = body(request).get("outcome")
        if not isinstance(outcome, str):
            raise CaseError(f"'outcome' is one of: {', '.join(OUTCOMES)}")
        return await tell(
            me, case_id, store.close, "utter_handoff_closed", outcome=outcome
        )

    @app.post("/api/cases/<case_id:int>/reopen")
    @authenticated
    async def reopen(request: Request, me: Caseworker, case_id: int) -> HTTPResponse:
        return await tell(me, case_id, store.reopen, "utter_caseworker_joined")

    @app.get("/api/audit")
    @authenticated
    async def audit(request: Request, me: Caseworker) -> HTTPResponse:
        if me.role != "supervisor":
            return response.json({"error": "supervisors only"}, status=403)
        events = await asyncio.to_thread(store.events)
        names = await asyncio.to_thread(store.caseworker_names)
        return response.json(
            {
                "events": [
                    {
                        "case": e.case_id,
                        "by": names.get(e.caseworker_id),
                        "action": e.action,
                        "detail": e.detail,
                        "at": iso(e.at),
                    }
                    for e in events
                ]
            }
        )

    @app.listener("after_server_start")
    async def start_background_work(app: Sanic, _loop) -> None:
        app.add_task(deliver_forever(store, senders))
        app.add_task(remind_forever(store, config))

    return app


async def deliver_once(store: CaseStore, senders: dict[str, Sender]) -> int:
    """Sends what is due on push channels; returns how many went out. One message that
    cannot be sent never holds up another case's."""
    sent = 0
    for message, case in await asyncio.to_thread(store.due_messages, senders):
        try:
            await senders[case.channel].send(case.conversation_id, message.text)
        except Exception as problem:  # DeliveryError, or a bug: retried either way
            reason = (
                str(problem) if isinstance(problem, DeliveryError) else repr(problem)
            )
            status = await asyncio.to_thread(store.mark_failed, message.id, reason)
            logger.warning(
                "case %s: message %s not delivered (%s)", case.id, message.id, status
            )
        else:
            await asyncio.to_thread(store.mark_sent, message.id)
            sent += 1
    return sent


async def deliver_forever(store: CaseStore, senders: dict[str, Sender]) -> None:
    while True:
        try:
            await deliver_once(store, senders)
        except Exception:  # the database away for a moment: try again, lose nothing
            logger.exception("delivery failed; retrying")
        await asyncio.sleep(DELIVERY_EVERY_SECONDS)


async def remind_once(store: CaseStore, config: Settings, now=None) -> int:
    """Tells people whose case nobody has claimed in time what to do meanwhile."""
    now = now or utcnow()
    since = now - dt.timedelta(minutes=config.handoff_wait_minutes)
    told = 0
    for case in await asyncio.to_thread(store.unclaimed_since, since):
        try:
            text = responses().text(
                "utter_handoff_waiting",
                case.language,
                help_lines=lines_for(case.country, case.language),
            )
            told += await asyncio.to_thread(
                store.notify_waiting, case_id=case.id, notice=text, now=now
            )
        except Exception:  # one case's problem is not everyone's
            logger.exception("case %s: the waiting notice failed", case.id)
    return told


async def remind_forever(store: CaseStore, config: Settings) -> None:
    while True:
        try:
            await remind_once(store, config)
        except Exception:
            logger.exception("waiting notices failed; retrying")
        await asyncio.sleep(WAITING_CHECK_EVERY_SECONDS)


def iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else aware(moment).isoformat(timespec="seconds")


def case_json(case: Case, names: dict[int, str]) -> dict:
    return {
        "id": case.id,
        "person": case.person,
        "channel": case.channel,
        "language": case.language,
        "category": case.category,
        "urgency": case.urgency,
        "team": case.team,
        "country": case.country,
        "area": case.area,
        "status": case.status,
        "assignee": names.get(case.assignee_id),
        "opened_at": iso(case.opened_at),
        "waiting_seconds": int((utcnow() - aware(case.opened_at)).total_seconds()),
        "claimed_at": iso(case.claimed_at),
        "closed_at": iso(case.closed_at),
        "outcome": case.outcome,
        "reopened": case.reopened,
    }


def message_json(message: CaseMessage, names: dict[int, str]) -> dict:
    return {
        "id": message.id,
        "author": message.author,
        "by": names.get(message.caseworker_id),
        "text": message.text,
        "at": iso(message.created_at),
        "status": message.status,
        "attempts": message.attempts,
        "error": message.error,
    }
