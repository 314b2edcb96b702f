"""The caseworker desk: the console in the browser (static pages in caseworker/static/)
and the JSON API it is built on, over the case store; and the background work that
keeps people informed: delivering what the team writes on push channels, in order,
with retries, and telling people still waiting that nobody is free yet.

POST /api/login starts a session. The console keeps it in an HTTP-only, Secure,
SameSite=Strict cookie, and every state-changing request it makes carries the session's
CSRF token in ``X-CSRF-Token``; scripts may ask for a bearer token instead
(``"bearer": true``) and send ``Authorization: Bearer <token>``, which a browser never
adds by itself. A caseworker sees the cases of their teams; a supervisor sees all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from functools import wraps
from pathlib import Path
from typing import Any

import yaml
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from amparo.cases import (
    OUTCOMES,
    SESSION_HOURS,
    TEAMS,
    Case,
    CaseError,
    CaseMessage,
    CaseStore,
    Caseworker,
    Forbidden,
    ReplyTemplate,
    aware,
    utcnow,
)
from amparo.contacts import NoAddress, contacts
from amparo.handoff import lines_for
from amparo.privacy import erase_person
from amparo.responses import responses
from amparo.settings import Settings
from channels.outbound import NEEDS, DeliveryError, Sender, close_all

logger = logging.getLogger(__name__)

DELIVERY_EVERY_SECONDS = 1.0
WAITING_CHECK_EVERY_SECONDS = 10.0

STATIC = Path(__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates.yml"
# "__Host-": the browser keeps it only if Secure, for this host, path / (Chromium and
# Firefox treat http://127.0.0.1 and localhost as secure for this).
COOKIE = "__Host-amparo_desk"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_REQUEST_BYTES = 64 * 1024  # a reply is at most 4,000 characters
MAX_ID = 2**63 - 1  # larger ids in a URL are simply not found (not a database error)
AUDIT_ROWS = 500  # the newest entries the audit view gets
PHONE_CHANNELS = frozenset(NEEDS)  # the channels that hold an address
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def csrf_token(session_token: str) -> str:
    """Derived from the session token, which only the cookie holds: another site can
    make the browser send the cookie, but cannot read this."""
    return hmac.new(session_token.encode(), b"csrf", hashlib.sha256).hexdigest()


def session_token(request: Request) -> tuple[str | None, bool]:
    """The session token of a request, and whether it came in the cookie. The Cookie
    header is read here, not with Sanic's parser, which drops every cookie when another
    one (set by another application on this host) is malformed."""
    # Tokens are ASCII: anything else (Sanic keeps undecodable bytes as surrogates) is
    # no token at all.
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return (token if token.isascii() else None), False
    for pair in (request.headers.get("cookie") or "").split(";"):
        name, _, value = pair.strip().partition("=")
        if name == COOKIE and value and value.isascii():
            return value, True
    return None, True


def cross_site(request: Request) -> bool:
    """A request another site made the browser send (browsers say so in
    Sec-Fetch-Site; another port of this host is "same-site", not "same-origin")."""
    return request.headers.get("sec-fetch-site", "same-origin") not in (
        "same-origin",
        "none",
    )


def set_session_cookie(answer: HTTPResponse, token: str, max_age: int) -> None:
    """Sets (or, empty with max_age 0, clears) the console's session cookie: a browser
    takes a "__Host-" cookie, even to clear it, only with Secure and Path=/."""
    answer.cookies[COOKIE] = token
    cookie = answer.cookies[COOKIE]
    cookie["path"], cookie["max-age"] = "/", max_age
    cookie["secure"] = cookie["httponly"] = True
    cookie["samesite"] = "Strict"


def template_rows(path: Path = TEMPLATES) -> list[tuple[str, str, str]]:
    """(language, title, text) of the canned replies the desk starts with."""
    rows = []
    for entry in yaml.safe_load(path.read_text(encoding="utf-8")):
        for language, text in entry["text"].items():
            rows.append((language, entry["title"][language], text))
    return rows


def create_app(
    store: CaseStore, config: Settings, senders: dict[str, Sender], name: str = "desk"
) -> Sanic:
    app = Sanic(name)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.REQUEST_MAX_SIZE = MAX_REQUEST_BYTES
    app.static("/static", str(STATIC), name="console_files")

    async def caseworker_of(request: Request) -> Caseworker | None:
        token, _ = session_token(request)
        return await asyncio.to_thread(store.caseworker_for, token) if token else None

    def forged(request: Request) -> str | None:
        """Why a request with the console's cookie is refused although its session is
        valid: sent from another site, or a change without the session's CSRF token."""
        token, from_cookie = session_token(request)
        if not from_cookie:
            return None  # a bearer token: browsers never send one by themselves
        if cross_site(request):
            return "refused: sent from another site"
        if request.method in SAFE_METHODS:
            return None
        sent = request.headers.get("x-csrf-token") or ""
        if not sent.isascii() or not hmac.compare_digest(sent, csrf_token(token)):
            return "missing or wrong CSRF token: reload the page"
        return None

    def authenticated(
        handler: Callable[..., Awaitable[HTTPResponse]],
    ) -> Callable[..., Awaitable[HTTPResponse]]:
        @wraps(handler)
        async def checked(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            caseworker = await caseworker_of(request)
            if caseworker is None:
                return response.json({"error": "log in first"}, status=401)
            refused = forged(request)
            if refused:
                return response.json({"error": refused}, status=403)
            if any(isinstance(v, int) and v > MAX_ID for v in kwargs.values()):
                return response.json({"error": "not found"}, status=404)
            try:
                return await handler(request, caseworker, *args, **kwargs)
            except CaseError as problem:
                return response.json({"error": str(problem)}, status=problem.status)

        return checked

    def supervisors_only(me: Caseworker) -> None:
        if me.role != "supervisor":
            raise Forbidden("supervisors only")

    def body(request: Request) -> dict:
        try:
            data = request.json
        except Exception:  # Sanic raises its own InvalidUsage on bad JSON
            data = None
        if not isinstance(data, dict):
            raise CaseError("expected a JSON object")
        return data

    def text_of(request: Request) -> str:
        return text_field(body(request), "text")

    def text_field(data: dict, name: str) -> str:
        value = data.get(name)
        if not isinstance(value, str):
            raise CaseError(f"'{name}' must be a string")
        return value

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

    @app.middleware("request")
    async def json_only(request: Request) -> HTTPResponse | None:
        """Changes come as JSON: a form another site submits (text/plain, urlencoded)
        is refused before anything reads it."""
        if request.method in SAFE_METHODS or not request.path.startswith("/api/"):
            return None
        kind = (request.headers.get("content-type") or "").split(";")[0].strip()
        if kind.lower() != "application/json":
            return response.json({"error": "send JSON"}, status=415)
        return None

    @app.middleware("response")
    async def protect(request: Request, answer: HTTPResponse) -> None:
        for header, value in SECURITY_HEADERS.items():
            answer.headers.setdefault(header, value)
        # Case data is never cached; the console's own files are, but checked again.
        static = request.path.startswith("/static/")
        answer.headers.setdefault("Cache-Control", "no-cache" if static else "no-store")

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @app.get("/")
    async def console(request: Request) -> HTTPResponse:
        if await caseworker_of(request) is None:
            return response.redirect("/login")
        return await response.file(STATIC / "index.html")

    @app.get("/login")
    async def login_page(request: Request) -> HTTPResponse:
        return await response.file(STATIC / "login.html")

    @app.post("/api/login")
    async def login(request: Request) -> HTTPResponse:
        if cross_site(request):  # another site logging the browser into its account
            return response.json({"error": "refused: sent from another site"}, 403)
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
        if data.get("bearer") is True:
            return response.json({"token": token})
        answer = response.json({"csrf": csrf_token(token)})
        set_session_cookie(answer, token, SESSION_HOURS * 3600)
        return answer

    @app.post("/api/logout")
    @authenticated
    async def logout(request: Request, me: Caseworker) -> HTTPResponse:
        await asyncio.to_thread(store.log_out, session_token(request)[0])
        answer = response.json({"status": "logged out"})
        set_session_cookie(answer, "", 0)
        return answer

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
                "csrf": csrf_token(session_token(request)[0]),
            }
        )

    @app.get("/api/caseworkers")
    @authenticated
    async def colleagues(request: Request, me: Caseworker) -> HTTPResponse:
        """Whom a case can go to: for a caseworker, colleagues of their teams; for a
        supervisor, everyone (account names are not handed to all)."""
        people = [
            other
            for other in await asyncio.to_thread(store.caseworkers)
            if me.role == "supervisor" or set(other.team_list) & set(me.team_list)
        ]
        return response.json(
            {
                "caseworkers": [
                    {
                        "username": c.username,
                        "name": c.display_name,
                        "role": c.role,
                        "teams": list(c.team_list),
                    }
                    for c in people
                ]
            }
        )

    @app.get("/api/cases")
    @authenticated
    async def queue(request: Request, me: Caseworker) -> HTTPResponse:
        cases = await asyncio.to_thread(
            store.queue, me, include_closed=request.args.get("closed") == "1"
        )
        names = await asyncio.to_thread(store.caseworker_names)
        last = await asyncio.to_thread(store.last_authors, [c.id for c in cases])
        return response.json(
            {
                "cases": [
                    {**case_json(c, names), "last_author": last.get(c.id)}
                    for c in cases
                ]
            }
        )

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
                "case": {
                    **case_json(case, names),
                    "has_address": config.desk_shows_address
                    and case.channel in PHONE_CHANNELS,
                },
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

    @app.post("/api/cases/<case_id:int>/address")
    @authenticated
    async def address(request: Request, me: Caseworker, case_id: int) -> HTTPResponse:
        """The person's phone number or chat id, for a call-back: only where the
        operator turned this on, only when asked for, and each time audited."""
        case = await asyncio.to_thread(store.case, case_id, me, audit=False)
        if not (config.desk_shows_address and case.channel in PHONE_CHANNELS):
            raise Forbidden("phone numbers are not shown here")
        try:
            found = await asyncio.to_thread(contacts().address_of, case.conversation_id)
        except (NoAddress, ValueError):  # no keys, no contact, or a retired key
            found = None
        await asyncio.to_thread(
            store.record, case_id=case.id, caseworker=me, action="address_viewed"
        )
        return response.json({"address": found})

    @app.post("/api/cases/<case_id:int>/erase")
    @authenticated
    async def erase(request: Request, me: Caseworker, case_id: int) -> HTTPResponse:
        """A supervisor erases everything kept about the person of a case (all
        their cases, contact and conversation history), as the person can with
        "BORRAR". The audit trail keeps who did it and how many cases, nothing more."""
        conversation_id = await asyncio.to_thread(store.conversation_of, case_id, me)
        erased = await asyncio.to_thread(erase_person, conversation_id, me)
        return response.json({"erased": asdict(erased)})

    @app.get("/api/templates")
    @authenticated
    async def templates(request: Request, me: Caseworker) -> HTTPResponse:
        found = await asyncio.to_thread(store.templates, request.args.get("language"))
        return response.json({"templates": [template_json(t) for t in found]})

    @app.post("/api/templates")
    @authenticated
    async def add_template(request: Request, me: Caseworker) -> HTTPResponse:
        data = body(request)
        added = await asyncio.to_thread(
            store.save_template,
            caseworker=me,
            language=data.get("language"),
            title=text_field(data, "title"),
            text=text_field(data, "text"),
        )
        return response.json({"template": template_json(added)}, status=201)

    @app.put("/api/templates/<template_id:int>")
    @authenticated
    async def edit_template(
        request: Request, me: Caseworker, template_id: int
    ) -> HTTPResponse:
        data = body(request)
        edited = await asyncio.to_thread(
            store.save_template,
            caseworker=me,
            template_id=template_id,
            title=text_field(data, "title"),
            text=text_field(data, "text"),
        )
        return response.json({"template": template_json(edited)})

    @app.delete("/api/templates/<template_id:int>")
    @authenticated
    async def delete_template(
        request: Request, me: Caseworker, template_id: int
    ) -> HTTPResponse:
        await asyncio.to_thread(
            store.delete_template, caseworker=me, template_id=template_id
        )
        return response.json({"status": "deleted"})

    @app.get("/api/audit")
    @authenticated
    async def audit(request: Request, me: Caseworker) -> HTTPResponse:
        supervisors_only(me)
        case = request.args.get("case")
        if case is not None and not re.fullmatch(r"[0-9]{1,18}", case):
            raise CaseError("'case' is a case number")
        events = await asyncio.to_thread(
            store.events, None if case is None else int(case), limit=AUDIT_ROWS
        )
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
        await asyncio.to_thread(store.seed_templates, template_rows)
        app.add_task(deliver_forever(store, senders))
        app.add_task(remind_forever(store, config))

    @app.listener("after_server_stop")
    async def close_senders(app: Sanic, _loop) -> None:
        await close_all(senders)

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


def template_json(template: ReplyTemplate) -> dict:
    return {
        "id": template.id,
        "language": template.language,
        "title": template.title,
        "text": template.text,
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
