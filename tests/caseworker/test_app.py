"""The caseworker desk's JSON API, served for real on 127.0.0.1, and its background
work: delivery with retries, and the notice to people still waiting."""

import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import update

from amparo.cases import FAILED, PENDING, SENT, CaseMessage, CaseStore
from amparo.responses import responses
from amparo.settings import Settings
from caseworker.app import deliver_once, remind_once
from channels.outbound import DeliveryError

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
            "POST", "/api/login", {"username": username, "password": PASSWORD}
        )
        assert status == 200, answer
        return answer["token"]


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    db = tmp_path_factory.mktemp("desk") / "cases.db"
    url = f"sqlite:///{db}"
    store = CaseStore.from_url(url)
    store.create_caseworker(username="ana", password=PASSWORD, teams=["gbv"])
    store.create_caseworker(
        username="leo", password=PASSWORD, teams=["child_protection"]
    )
    store.create_caseworker(username="sue", password=PASSWORD, role="supervisor")
    port = free_port()
    env = {**os.environ, "AMPARO_CASES_DB": url, "PYTHONPATH": str(ROOT)}
    log = open(db.parent / "desk.log", "w")  # noqa: SIM115
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
        pytest.fail((db.parent / "desk.log").read_text())
    yield Desk(base, store)
    process.terminate()
    process.wait(timeout=10)
    log.close()


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
