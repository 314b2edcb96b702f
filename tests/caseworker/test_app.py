"""The caseworker desk's JSON API, served for real on 127.0.0.1, and its background
work: delivery with retries, and the notice to people still waiting."""

import asyncio
import datetime as dt
import http.client
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import yaml
from sqlalchemy import update

from amparo.cases import FAILED, PENDING, SENT, CaseMessage, CaseStore
from amparo.contacts import ContactStore, Keys
from amparo.responses import responses
from amparo.settings import Settings
from caseworker.app import (
    COOKIE,
    create_app,
    deliver_once,
    remind_once,
    template_rows,
)
from channels.outbound import DeliveryError
from scripts.stack import free_port
from tests.conftest import TEST_DATA_KEY, TEST_ID_KEY

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


class Desk:
    def __init__(self, base: str, store: CaseStore):
        self.base, self.store = base, store

    def call(self, method, path, body=None, token=None, raw=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = (
            raw
            if raw is not None
            else (None if body is None else json.dumps(body).encode())
        )
        request = urllib.request.Request(
            self.base + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def login(self, username):
        status, answer = self.call(
            "POST",
            "/api/login",
            {"username": username, "password": PASSWORD, "bearer": True},
        )
        assert status == 200, answer
        return answer["token"]


def serve_desk(folder: Path, **env: str):
    """A desk process on its own case store, with three accounts."""
    url = f"sqlite:///{folder / 'cases.db'}"
    store = CaseStore.from_url(url)
    store.create_caseworker(username="ana", password=PASSWORD, teams=["gbv"])
    store.create_caseworker(
        username="leo", password=PASSWORD, teams=["child_protection"]
    )
    store.create_caseworker(username="sue", password=PASSWORD, role="supervisor")
    port = free_port()
    env = {
        **os.environ,
        "AMPARO_CASES_DB": url,
        "AMPARO_DATA_KEYS": TEST_DATA_KEY,
        "PYTHONPATH": str(ROOT),
        **env,
    }
    log = open(folder / "desk.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "caseworker", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail((folder / "desk.log").read_text())
    try:
        yield Desk(base, store)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    yield from serve_desk(tmp_path_factory.mktemp("desk"))


def open_case(store, who, category="violence", language="es"):
    return store.open_case(
        conversation_id=who, channel="webchat", language=language, category=category
    ).case


def test_nothing_without_logging_in(desk):
    case = open_case(desk.store, "p-anon-0001")
    for method, path in [
        ("GET", "/api/cases"),
        ("GET", f"/api/cases/{case.id}"),
        ("POST", f"/api/cases/{case.id}/claim"),
        ("POST", f"/api/cases/{case.id}/messages"),
        ("GET", "/api/audit"),
    ]:
        assert desk.call(method, path, {})[0] == 401
        assert desk.call(method, path, {}, token="forged")[0] == 401


def test_wrong_passwords_are_refused_alike(desk):
    for body in (
        {"username": "ana", "password": "nope nope nope"},
        {"username": "ghost", "password": PASSWORD},
    ):
        assert desk.call("POST", "/api/login", body) == (
            401,
            {"error": "wrong name or password"},
        )
    assert desk.call("POST", "/api/login", raw=b"{not json")[0] == 400


def test_a_case_from_claim_to_close(desk):
    case = open_case(desk.store, "p-flow-00001", language="pt")
    ana = desk.login("ana")
    status, queue = desk.call("GET", "/api/cases", token=ana)
    assert status == 200
    mine = next(c for c in queue["cases"] if c["id"] == case.id)
    assert (mine["category"], mine["urgency"], mine["status"], mine["language"]) == (
        "violence",
        "high",
        "queued",
        "pt",
    )
    assert desk.call("POST", f"/api/cases/{case.id}/claim", token=ana)[0] == 200
    assert desk.call("POST", f"/api/cases/{case.id}/claim", token=ana)[0] == 409
    status, sent = desk.call(
        "POST", f"/api/cases/{case.id}/messages", {"text": "Oi, sou a Ana."}, token=ana
    )
    assert status == 201 and sent["message"]["status"] == "queued"
    assert (
        desk.call("POST", f"/api/cases/{case.id}/messages", {"text": ""}, token=ana)[0]
        == 400
    )
    assert (
        desk.call(
            "POST", f"/api/cases/{case.id}/notes", {"text": "encaminhar"}, token=ana
        )[0]
        == 201
    )
    status, seen = desk.call("GET", f"/api/cases/{case.id}", token=ana)
    assert [(m["author"], m["text"]) for m in seen["messages"]] == [
        ("system", responses().text("utter_caseworker_joined", "pt")),
        ("caseworker", "Oi, sou a Ana."),
    ]
    assert seen["messages"][1]["by"] == "ana"
    assert [n["text"] for n in seen["notes"]] == ["encaminhar"]
    assert (
        desk.call(
            "POST", f"/api/cases/{case.id}/close", {"outcome": "maybe"}, token=ana
        )[0]
        == 400
    )
    status, closed = desk.call(
        "POST", f"/api/cases/{case.id}/close", {"outcome": "referred"}, token=ana
    )
    assert status == 200 and closed["case"]["status"] == "closed"
    assert desk.store.messages(case.id)[-1].text == responses().text(
        "utter_handoff_closed", "pt"
    )
    assert desk.store.open_case_of("p-flow-00001") is None


def test_the_queue_shows_which_active_cases_wait_for_an_answer(desk):
    case = open_case(desk.store, "p-last-00001")
    ana = desk.login("ana")

    def last_author():
        cases = desk.call("GET", "/api/cases", token=ana)[1]["cases"]
        return next(c["last_author"] for c in cases if c["id"] == case.id)

    assert last_author() is None  # nothing written in the case yet
    desk.call("POST", f"/api/cases/{case.id}/claim", token=ana)
    assert last_author() == "system"
    desk.store.add_person_message(case_id=case.id, text="sigo aqui")
    assert last_author() == "person"
    desk.call("POST", f"/api/cases/{case.id}/messages", {"text": "Hola"}, token=ana)
    assert last_author() == "caseworker"


def test_a_caseworker_cannot_open_another_teams_case(desk):
    case = open_case(desk.store, "p-child-0001", category="child_at_risk")
    ana = desk.login("ana")
    assert case.id not in [
        c["id"] for c in desk.call("GET", "/api/cases", token=ana)[1]["cases"]
    ]
    for method, path in [
        ("GET", f"/api/cases/{case.id}"),
        ("POST", f"/api/cases/{case.id}/claim"),
        ("POST", f"/api/cases/{case.id}/notes"),
    ]:
        assert desk.call(method, path, {"text": "x"}, token=ana)[0] == 404
    leo = desk.login("leo")
    assert desk.call("GET", f"/api/cases/{case.id}", token=leo)[0] == 200


def test_a_supervisor_transfers_and_reads_the_audit(desk):
    case = open_case(desk.store, "p-move-0001")
    sue, ana = desk.login("sue"), desk.login("ana")
    assert desk.call("GET", "/api/audit", token=ana)[0] == 403
    status, moved = desk.call(
        "POST",
        f"/api/cases/{case.id}/transfer",
        {"team": "child_protection"},
        token=sue,
    )
    assert status == 200 and moved["case"]["team"] == "child_protection"
    status, moved = desk.call(
        "POST", f"/api/cases/{case.id}/transfer", {"caseworker": "leo"}, token=sue
    )
    assert (moved["case"]["assignee"], moved["case"]["status"]) == ("leo", "active")
    events = desk.call("GET", "/api/audit", token=sue)[1]["events"]
    mine = [(e["action"], e["by"]) for e in events if e["case"] == case.id]
    assert ("transferred", "sue") in mine and mine[0] == ("opened", None)


def test_logout_ends_the_session(desk):
    token = desk.login("ana")
    assert desk.call("POST", "/api/logout", token=token)[0] == 200
    assert desk.call("GET", "/api/me", token=token)[0] == 401


# --- background work, in-process -------------------------------------------------


class FlakySender:
    def __init__(self, failures):
        self.failures, self.sent = failures, []

    async def send(self, recipient, text, buttons=None):
        if self.failures:
            self.failures -= 1
            raise DeliveryError("HTTP 502 from the callback URL")
        self.sent.append((recipient, text))


def skip_the_wait(store):
    """As if the back-off had passed."""
    with store.session() as session, session.begin():
        session.execute(update(CaseMessage).values(next_attempt_at=None))


def pending(store, who, *texts):
    """A push-channel case with ``texts`` from the team waiting to go out."""
    case = store.open_case(
        conversation_id=who, channel="callback", language="es", category="danger"
    ).case
    store.create_caseworker(username=who, password=PASSWORD, teams=["general"])
    me = store.caseworker_for(store.log_in(who, PASSWORD))
    store.claim(case_id=case.id, caseworker=me, notice=texts[0])
    for text in texts[1:]:
        store.reply(case_id=case.id, caseworker=me, text=text)
    return case


def test_delivery_retries_then_succeeds_in_order(store):
    case = pending(store, "p-push-0001", "uno", "dos")
    sender = FlakySender(failures=1)
    assert asyncio.run(deliver_once(store, {"callback": sender})) == 0
    assert store.messages(case.id)[0].status == PENDING
    assert asyncio.run(deliver_once(store, {"callback": sender})) == 0  # backing off
    skip_the_wait(store)
    assert asyncio.run(deliver_once(store, {"callback": sender})) == 1
    assert asyncio.run(deliver_once(store, {"callback": sender})) == 1
    assert sender.sent == [("p-push-0001", "uno"), ("p-push-0001", "dos")]
    assert [m.status for m in store.messages(case.id)] == [SENT, SENT]


def test_a_message_that_keeps_failing_is_marked_failed(store):
    case = pending(store, "p-dead-0001", "uno")
    sender = FlakySender(failures=100)
    for _ in range(6):
        skip_the_wait(store)
        asyncio.run(deliver_once(store, {"callback": sender}))
    [message] = store.messages(case.id)
    assert (message.status, message.attempts) == (FAILED, 5)
    assert "502" in message.error


def test_people_waiting_too_long_are_told_what_to_do(store):
    case = store.open_case(
        conversation_id="p-wait-0001",
        channel="webchat",
        language="en",
        category="violence",
        country="CO",
    ).case
    config = Settings(handoff_wait_minutes=10)
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    assert asyncio.run(remind_once(store, config, now=soon)) == 0
    later = soon + dt.timedelta(minutes=6)
    assert asyncio.run(remind_once(store, config, now=later)) == 1
    assert asyncio.run(remind_once(store, config, now=later)) == 0
    [notice] = store.messages(case.id)
    assert "123" in notice.text and notice.text.startswith("Nobody on the team")


class BrokenSender:
    async def send(self, recipient, text, buttons=None):
        raise RuntimeError("a bug in a channel")


class Recorder(FlakySender):
    def __init__(self):
        super().__init__(failures=0)


def test_one_channel_s_bug_does_not_stop_the_others(store):
    broken = pending(store, "p-bug-00001", "uno")
    fine = store.open_case(
        conversation_id="p-fine-0001", channel="other", language="es", category="danger"
    ).case
    store.create_caseworker(username="fine", password=PASSWORD, teams=["general"])
    me = store.caseworker_for(store.log_in("fine", PASSWORD))
    store.claim(case_id=fine.id, caseworker=me, notice="hola")
    recorder = Recorder()
    sent = asyncio.run(
        deliver_once(store, {"callback": BrokenSender(), "other": recorder})
    )
    assert sent == 1 and recorder.sent == [("p-fine-0001", "hola")]
    [message] = store.messages(broken.id)
    assert message.status == PENDING and "a bug in a channel" in message.error


class Closing(Recorder):
    closed = False

    async def close(self):
        self.closed = True


def test_the_desk_closes_its_senders_when_it_stops(store):
    senders = {"callback": Closing(), "sms": Closing()}
    app = create_app(store, Settings(), senders, name="desk_stopping")
    for future in app._future_listeners:  # Sanic registers them when it starts
        if future.event == "after_server_stop":
            asyncio.run(future.listener(app, None))
    assert all(sender.closed for sender in senders.values())


def test_a_malformed_transfer_is_refused_not_a_crash(desk):
    case = open_case(desk.store, "p-bad-00001")
    sue = desk.login("sue")
    for body in (
        {"caseworker": ["leo"]},
        {"team": 5},
        {"caseworker": "leo", "team": "gbv"},
    ):
        assert (
            desk.call("POST", f"/api/cases/{case.id}/transfer", body, token=sue)[0]
            == 400
        )
    assert (
        desk.call("POST", f"/api/cases/{case.id}/close", {"outcome": 3}, token=sue)[0]
        == 400
    )


def test_caseworkers_see_a_pseudonym_not_the_channel_s_id(desk):
    case = open_case(desk.store, "p-secret-id-0001")
    ana = desk.login("ana")
    [seen] = [
        c
        for c in desk.call("GET", "/api/cases", token=ana)[1]["cases"]
        if c["id"] == case.id
    ]
    assert "p-secret-id-0001" not in json.dumps(seen)
    assert len(seen["person"]) == 10


# --- the console's session: cookie, CSRF, pages ------------------------------------


def browser(desk, method, path, body=None, cookie=None, csrf=None, **headers):
    """A request as a browser sends it: the cookie, perhaps a CSRF token, perhaps
    other headers (Sec_Fetch_Site="same-site"). Returns (status, headers, body text);
    redirects are not followed."""
    connection = http.client.HTTPConnection(desk.base.removeprefix("http://"))
    headers = {
        "Content-Type": "application/json",
        **{name.replace("_", "-"): value for name, value in headers.items()},
    }
    if cookie:
        headers["Cookie"] = f"ui={{oops}}; {COOKIE}={cookie}"  # another app's cookie
    if csrf:
        headers["X-CSRF-Token"] = csrf
    data = body if isinstance(body, bytes | None) else json.dumps(body)
    connection.request(method, path, body=data, headers=headers)
    answer = connection.getresponse()
    result = answer.status, answer.headers, answer.read().decode()
    connection.close()
    return result


def console_login(desk, username="ana"):
    """(cookie value, csrf token) after the login form."""
    status, headers, text = browser(
        desk, "POST", "/api/login", {"username": username, "password": PASSWORD}
    )
    assert status == 200, text
    cookie = SimpleCookie(headers["Set-Cookie"])[COOKIE]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Strict"
    assert cookie["path"] == "/" and "token" not in json.loads(text)
    return cookie.value, json.loads(text)["csrf"]


def test_the_console_page_needs_a_session(desk):
    status, headers, _ = browser(desk, "GET", "/")
    assert status == 302 and headers["Location"] == "/login"
    assert browser(desk, "GET", "/", cookie="forged")[0] == 302
    status, headers, page = browser(desk, "GET", "/login")
    assert status == 200 and 'id="password"' in page
    cookie, _ = console_login(desk)
    status, headers, page = browser(desk, "GET", "/", cookie=cookie)
    assert status == 200 and "/static/console.js" in page
    assert headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"


def test_the_console_s_files_come_from_this_server_only(desk):
    for name in ("console.js", "console.css", "login.js"):
        status, headers, text = browser(desk, "GET", f"/static/{name}")
        assert status == 200 and text and headers["Cache-Control"] == "no-cache"
        assert "http://" not in text and "https://" not in text, name
    for page in ("index.html", "login.html"):
        text = (ROOT / "caseworker" / "static" / page).read_text()
        assert "http" not in text and "<script>" not in text
        assert not re.search(r"\son\w+=|style=", text), page  # the CSP forbids them


def test_every_canned_reply_starts_in_the_three_languages():
    entries = yaml.safe_load((ROOT / "caseworker" / "templates.yml").read_text())
    for entry in entries:
        assert set(entry["title"]) == set(entry["text"]) == {"es", "en", "pt"}, entry
    rows = template_rows()
    assert len(rows) == 3 * len(entries)
    assert all(title.strip() and text.strip() for _, title, text in rows)


def test_a_state_change_without_the_csrf_token_is_refused(desk):
    case = open_case(desk.store, "p-csrf-00001")
    cookie, csrf = console_login(desk)
    path = f"/api/cases/{case.id}/claim"
    for forged in (None, "", "0" * 64, csrf[:-1] + "x"):
        status, _, text = browser(desk, "POST", path, {}, cookie=cookie, csrf=forged)
        assert status == 403 and "CSRF" in text
    [ana] = [c for c in desk.store.caseworkers() if c.username == "ana"]
    assert desk.store.case(case.id, ana, audit=False).status == "queued"
    # Reading needs no token; the token of another session does not do.
    assert browser(desk, "GET", f"/api/cases/{case.id}", cookie=cookie)[0] == 200
    _, other_csrf = console_login(desk)
    assert browser(desk, "POST", path, {}, cookie=cookie, csrf=other_csrf)[0] == 403
    assert browser(desk, "POST", path, {}, cookie=cookie, csrf="ñ" * 64)[0] == 403
    # A session that has ended is told to log in, whatever it sends.
    assert browser(desk, "POST", path, {}, cookie="ended", csrf=csrf)[0] == 401
    status, _, text = browser(desk, "POST", path, {}, cookie=cookie, csrf=csrf)
    assert status == 200 and json.loads(text)["case"]["status"] == "active"


def test_what_another_site_makes_the_browser_send_is_refused(desk):
    case = open_case(desk.store, "p-site-00001")
    cookie, csrf = console_login(desk)
    path = f"/api/cases/{case.id}"
    # Another port of this host is the same site: the cookie comes along.
    for site in ("same-site", "cross-site"):
        status, _, text = browser(desk, "GET", path, cookie=cookie, Sec_Fetch_Site=site)
        assert status == 403 and "another site" in text
        status, _, _ = browser(
            desk, "POST", path + "/claim", {}, cookie, csrf, Sec_Fetch_Site=site
        )
        assert status == 403
        status, _, _ = browser(
            desk,
            "POST",
            "/api/login",
            {"username": "ana", "password": PASSWORD},
            Sec_Fetch_Site=site,
        )
        assert status == 403  # no logging the browser into someone else's account
    assert (
        browser(desk, "GET", path, cookie=cookie, Sec_Fetch_Site="same-origin")[0]
        == 200
    )
    # A form posted as text/plain or urlencoded never reaches the handler.
    for kind in ("text/plain", "application/x-www-form-urlencoded"):
        status, _, _ = browser(
            desk,
            "POST",
            path + "/claim",
            b'{"a":"="}',
            cookie,
            csrf,
            Content_Type=kind,
        )
        assert status == 415
    assert desk.store.case(case.id, supervisor(desk), audit=False).status == "queued"


def supervisor(desk):
    return next(c for c in desk.store.caseworkers() if c.role == "supervisor")


def test_odd_ids_and_huge_bodies_are_refused_cleanly(desk):
    sue = desk.login("sue")
    for path in (f"/api/cases/{10**30}", f"/api/templates/{10**30}"):
        assert (
            desk.call("GET" if "cases" in path else "PUT", path, {}, token=sue)[0]
            == 404
        )
    for case in ("²", "1" * 30, "-1"):
        path = f"/api/audit?case={urllib.parse.quote(case)}"
        assert desk.call("GET", path, token=sue)[0] == 400
    for forged in ("ñ" * 43, "\ud800"):
        assert (
            desk.call(
                "GET",
                "/api/me",
                token=forged.encode("utf-8", "surrogatepass").decode("latin-1"),
            )[0]
            == 401
        )
    status, _, _ = browser(desk, "POST", "/api/login", b"{" + b" " * 100_000 + b"}")
    assert status == 413


def test_me_gives_the_page_its_csrf_token_and_logout_ends_the_cookie(desk):
    cookie, csrf = console_login(desk)
    status, _, text = browser(desk, "GET", "/api/me", cookie=cookie)
    assert status == 200 and json.loads(text)["csrf"] == csrf
    assert browser(desk, "POST", "/api/logout", {}, cookie=cookie)[0] == 403
    status, headers, _ = browser(
        desk, "POST", "/api/logout", {}, cookie=cookie, csrf=csrf
    )
    cleared = SimpleCookie(headers["Set-Cookie"])[COOKIE]
    assert status == 200 and cleared.value == "" and cleared["max-age"] == "0"
    assert cleared["secure"] and cleared["path"] == "/"  # or browsers keep it
    assert browser(desk, "GET", "/api/me", cookie=cookie)[0] == 401
    assert browser(desk, "GET", "/", cookie=cookie)[0] == 302


def test_canned_replies_are_seeded_in_each_language_and_edited_by_supervisors(desk):
    ana, sue = desk.login("ana"), desk.login("sue")
    status, found = desk.call("GET", "/api/templates?language=pt", token=ana)
    assert status == 200 and found["templates"]
    assert {t["language"] for t in found["templates"]} == {"pt"}
    seeded = {
        language: len(
            desk.call("GET", f"/api/templates?language={language}", token=ana)[1][
                "templates"
            ]
        )
        for language in ("es", "en", "pt")
    }
    assert len(set(seeded.values())) == 1, seeded
    new = {"language": "es", "title": "Agua", "text": "¿Tienes agua potable?"}
    assert desk.call("POST", "/api/templates", new, token=ana)[0] == 403
    status, added = desk.call("POST", "/api/templates", new, token=sue)
    assert status == 201 and added["template"]["text"] == new["text"]
    path = f"/api/templates/{added['template']['id']}"
    change = {"title": "Agua", "text": "¿Tienes agua para beber hoy?"}
    assert desk.call("PUT", path, change, token=ana)[0] == 403
    assert (
        desk.call("PUT", path, change, token=sue)[1]["template"]["text"]
        == (change["text"])
    )
    for bad in ({**new, "language": "fr"}, {**new, "text": "  "}, {"title": 1}):
        assert desk.call("POST", "/api/templates", bad, token=sue)[0] == 400
    assert desk.call("DELETE", path, token=ana)[0] == 403
    assert desk.call("DELETE", path, token=sue)[0] == 200
    assert desk.call("DELETE", path, token=sue)[0] == 404
    actions = [
        e["action"] for e in desk.call("GET", "/api/audit", token=sue)[1]["events"]
    ]
    assert {"template_added", "template_edited", "template_deleted"} <= set(actions)


def test_a_case_left_open_on_screen_is_audited_once_not_at_every_refresh(desk):
    case = open_case(desk.store, "p-look-00001")
    ana, sue = desk.login("ana"), desk.login("sue")
    for _ in range(5):
        assert desk.call("GET", f"/api/cases/{case.id}", token=ana)[0] == 200
    desk.call("GET", f"/api/cases/{case.id}", token=sue)
    status, audit = desk.call("GET", f"/api/audit?case={case.id}", token=sue)
    views = [e["by"] for e in audit["events"] if e["action"] == "viewed"]
    assert status == 200 and views == ["ana", "sue"]
    assert {e["case"] for e in audit["events"]} == {case.id}
    assert desk.call("GET", "/api/audit?case=x", token=sue)[0] == 400


def test_colleagues_are_listed_for_a_transfer(desk):
    status, found = desk.call("GET", "/api/caseworkers", token=desk.login("ana"))
    assert status == 200
    # A caseworker sees the colleagues of their teams, not every account name.
    assert {c["username"] for c in found["caseworkers"]} == {"ana"}
    assert all("password" not in json.dumps(c) for c in found["caseworkers"])
    _, found = desk.call("GET", "/api/caseworkers", token=desk.login("sue"))
    assert {c["username"] for c in found["caseworkers"]} >= {"ana", "leo", "sue"}


@pytest.fixture(scope="module")
def desk_with_numbers(tmp_path_factory):
    yield from serve_desk(
        tmp_path_factory.mktemp("numbers"),
        AMPARO_DESK_SHOWS_ADDRESS="1",
        AMPARO_ID_KEY=TEST_ID_KEY,
        AMPARO_DATA_KEYS=TEST_DATA_KEY,
    )


@pytest.mark.parametrize("shown", [False, True])
def test_a_phone_number_is_on_screen_only_where_the_operator_allows(
    shown, desk, desk_with_numbers
):
    served = desk_with_numbers if shown else desk
    book = ContactStore(served.store.engine, Keys(TEST_ID_KEY, (TEST_DATA_KEY,)))
    who = book.conversation("whatsapp", "+573001234567")
    case = served.store.open_case(
        conversation_id=who, channel="whatsapp", language="es", category="violence"
    ).case
    ana, sue = served.login("ana"), served.login("sue")
    for _ in range(3):  # the console refreshes an open case every 2 seconds
        status, seen = served.call("GET", f"/api/cases/{case.id}", token=ana)
        assert status == 200 and "+573001234567" not in json.dumps(seen)
    assert seen["case"]["has_address"] is shown
    status, answer = served.call("POST", f"/api/cases/{case.id}/address", token=ana)
    if shown:
        assert (status, answer) == (200, {"address": "+573001234567"})
    else:
        assert status == 403 and "+573001234567" not in json.dumps(answer)
    events = served.call("GET", f"/api/audit?case={case.id}", token=sue)[1]["events"]
    looks = [e["by"] for e in events if e["action"] == "address_viewed"]
    assert looks == (["ana"] if shown else [])
