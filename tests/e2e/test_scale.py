"""The deployment of README's "Running at scale", run for real on 127.0.0.1: two Rasa
processes behind nginx (deploy/nginx.conf), the Redis lock store of
deploy/endpoints.yml, Rasa's history and the case store on PostgreSQL, reached
through a gate the tests can shut (the database away for a moment). One conversation
stays in order whichever process takes its messages; kill -9 of a Rasa process in the
middle of a handoff loses no case and no message; nothing stores a phone number in
the clear. Skipped, saying why, where PostgreSQL, Redis or nginx is missing."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine, make_url

from amparo.cases import CaseStore
from amparo.contacts import Keys
from scripts.stack import NGINX, Stack, deployed_lock_store
from tests.conftest import TEST_DATA_KEY, TEST_ID_KEY, postgres_database
from tests.e2e.conftest import MODEL, NOTICES, SMS_NUMBER, phone_settings
from tests.e2e.test_phone_channels import new_phone, new_sid, twilio
from tests.e2e.test_phone_channels import text as reply
from tests.fakes import FakeApis

REDIS = os.environ.get("AMPARO_TEST_REDIS", "redis://127.0.0.1:6379/1")
REPLAY_AFTER_SECONDS = 4
LOCK_SECONDS = 20  # Rasa's lock tickets (TICKET_LOCK_LIFETIME): a dead one lasts this


class Gate:
    """A TCP relay to PostgreSQL that can be shut: every connection through it cut,
    new ones refused, until it opens again."""

    def __init__(self, host: str, port: int) -> None:
        self.target, self.open = (host, port), True
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            if not self.open:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def shut(self) -> None:
        self.open = False
        with self.lock:
            for end in self.sockets:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
            self.sockets.clear()


@dataclass
class Scaled:
    stack: Stack
    apis: FakeApis
    store: CaseStore
    reader: Engine  # how the test reads PostgreSQL (not through the gate)
    gate: Gate
    redis: object
    prefix: str  # the lock store's keys in Redis start with it
    phones: list[str] = field(default_factory=list)
    redis_seen: dict[str, bytes] = field(default_factory=dict)

    def sms(self, phone: str, body: str, sid: str | None = None) -> int:
        self.phones.append(phone)
        fields = {
            "MessageSid": sid or new_sid(),
            "AccountSid": "AC" + "0" * 32,
            "From": phone,
            "To": SMS_NUMBER,
            "Body": body,
            "NumMedia": "0",
        }
        return twilio(self, "sms", fields)[0]

    @property
    def base(self) -> str:  # what tests.e2e.test_phone_channels.twilio posts to
        return self.stack.url("rasa")

    def person(self, phone: str) -> str:
        return Keys(TEST_ID_KEY, (TEST_DATA_KEY,)).pseudonym("sms", phone)

    def journal(self) -> list[tuple[str, str]]:
        """The journalled deliveries: id, and which process has it."""
        return self.read("SELECT external_id, claimed_by FROM inbound_pending")

    def read(self, sql: str, p: str = "") -> list[tuple]:
        with self.reader.connect() as connection:
            return connection.execute(text(sql), {"p": p}).all()

    def count(self, sql: str, p: str) -> int:
        return self.read(sql, p)[0][0]

    def everything_stored(self) -> dict[str, str]:
        """Every table in the database, as text."""
        with self.reader.connect() as connection:
            return {
                table: repr(connection.execute(text(f'SELECT * FROM "{table}"')).all())
                for table in inspect(connection).get_table_names()
            }

    def watch_redis(self, stop: threading.Event) -> None:
        """Keeps every lock-store key and value seen while ``stop`` is not set."""
        while not stop.is_set():
            for key in self.redis.scan_iter(f"{self.prefix}*"):
                self.redis_seen[key.decode()] = self.redis.get(key) or b""
            time.sleep(0.01)


@pytest.fixture(scope="module")
def scaled(tmp_path_factory) -> Iterator[Scaled]:
    if not MODEL.is_file():
        pytest.skip(f"no trained model at {MODEL}: run `make test`, which trains first")
    if not Path(NGINX).is_file():
        pytest.skip(f"no nginx at {NGINX}: make test installs it where it may")
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS} (set AMPARO_TEST_REDIS)")
    with postgres_database() as url:
        yield from scale_out(tmp_path_factory.mktemp("scaled"), url, client)


def scale_out(tmp: Path, url: str, client) -> Iterator[Scaled]:
    """The stack of "Running at scale" on the database at ``url`` (through a gate)."""
    database = make_url(url)
    gate = Gate(database.host or "127.0.0.1", database.port or 5432)
    gated = database.set(host="127.0.0.1", port=gate.port)
    gated_url = gated.render_as_string(hide_password=False)
    apis = FakeApis(set_aside=NOTICES)
    apis.serve()
    store = CaseStore.from_url(gated_url)
    reader = create_engine(url, future=True)
    # The shipped lock store, on the test's Redis, under a key prefix of its own.
    prefix = f"amparo{uuid.uuid4().hex[:8]}"
    where = client.connection_pool.connection_kwargs
    lock_store = deployed_lock_store(
        key_prefix=prefix,
        url=where["host"],
        port=where["port"],
        db=where.get("db", 0),
    )
    stack = Stack(
        tmp,
        MODEL,
        ("channels.twilio.SmsInput",),
        {
            "AMPARO_CASES_DB": gated_url,
            "AMPARO_TRACKER_DB": gated_url,
            "AMPARO_TEAM_HOURS": "24/7",
            "AMPARO_REPLAY_AFTER_SECONDS": str(REPLAY_AFTER_SECONDS),
            "TICKET_LOCK_LIFETIME": str(LOCK_SECONDS),
            **phone_settings(apis.url),
        },
        lock_store=lock_store,
        rasa_processes=2,
    )
    try:
        try:
            stack.start()
        except RuntimeError as problem:
            pytest.fail(str(problem))
        yield Scaled(stack, apis, store, reader, gate, client, prefix)
    finally:
        stack.stop()
        store.engine.dispose()
        reader.dispose()
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


def conversation(scaled: Scaled, phone: str, texts: list[str], gap: float) -> None:
    """Sends the texts `gap` seconds apart, each without waiting for the one before
    to be answered, and returns once every webhook request has been answered."""
    posts = []
    for body in texts:
        posts.append(threading.Thread(target=scaled.sms, args=(phone, body)))
        posts[-1].start()
        time.sleep(gap)
    for post in posts:
        post.join()


def test_each_conversation_stays_in_order_across_two_processes(scaled):
    # One person at a time, to know what a conversation in order answers.
    alone = new_phone()
    assert scaled.sms(alone, "hola") == 200
    assert len(scaled.apis.wait(alone, 1)) == 1
    assert scaled.sms(alone, "2") == 200
    expected = [s.text for s in scaled.apis.wait(alone, 2)]
    assert len(expected) == 2 and expected[1] != expected[0]

    # Six at once, each sending the number while the greeting is still being made,
    # through nginx, which hands their messages to both processes in turn.
    stop = threading.Event()
    watcher = threading.Thread(target=scaled.watch_redis, args=(stop,), daemon=True)
    watcher.start()
    access = scaled.stack.folder / "nginx-access.log"
    before = len(access.read_text().splitlines())
    phones = [new_phone() for _ in range(6)]
    senders = [
        threading.Thread(target=conversation, args=(scaled, p, ["hola", "2"], 0.05))
        for p in phones
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    try:
        for phone in phones:
            assert [s.text for s in scaled.apis.wait(phone, 2, 60)] == expected
    finally:
        stop.set()
        watcher.join()
    # nginx's access log: which process each of those twelve messages went to (a
    # request's line is written just after its answer is sent)
    deadline = time.monotonic() + 5
    taken = access.read_text().splitlines()[before:]
    while len(taken) < 12 and time.monotonic() < deadline:
        time.sleep(0.1)
        taken = access.read_text().splitlines()[before:]
    errors = scaled.stack.folder / "nginx-error.log"
    why = "\n".join([*taken, errors.read_text() if errors.is_file() else ""])
    for name in scaled.stack.rasa_names:
        port = f"127.0.0.1:{scaled.stack.ports[name]}"
        assert sum(port in line for line in taken) >= 4, f"{name}:\n{why}"
    assert scaled.redis_seen  # the lock store was used, and is looked at below


def test_a_rasa_process_killed_mid_handoff_loses_no_case_and_no_message(scaled):
    phone = new_phone()
    person = scaled.person(phone)
    assert scaled.sms(phone, "mi pareja me pega y tengo miedo") == 200
    asked = scaled.apis.wait(phone, 2)
    assert len(asked) >= 2, [s.text for s in asked]

    # The consent's turn is held in its first reply; the process that has it dies.
    scaled.apis.stall = 30
    threading.Thread(target=scaled.sms, args=(phone, "si"), daemon=True).start()
    deadline = time.monotonic() + 20
    while not (journal := scaled.journal()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(scaled.apis.wait(phone, len(asked) + 1, 20)) == len(asked) + 1
    [(_, owner)] = journal
    pid = int(owner.rsplit(":", 1)[1])
    [killed] = [
        name
        for name in scaled.stack.rasa_names
        if scaled.stack.processes[name].pid == pid
    ]
    os.kill(pid, signal.SIGKILL)
    scaled.stack.processes[killed].wait(timeout=10)
    scaled.apis.stall = 0

    # The other process takes the journalled message up: nothing is left undone. It
    # waits out the dead process's lock ticket, then runs the whole consent turn; with
    # the rest of the suite loading both cores that once took more than 30 s.
    deadline = time.monotonic() + REPLAY_AFTER_SECONDS + LOCK_SECONDS + 90
    while scaled.journal() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert scaled.journal() == []
    [alive] = [n for n in scaled.stack.rasa_names if n != killed]
    assert "a message is handled again" in scaled.stack.log(alive).read_text()
    assert reply("utter_handoff_opened", "es") in scaled.apis.texts(phone)
    case = scaled.store.open_case_of(person)
    assert case is not None and case.category == "violence"
    assert (
        scaled.count('SELECT count(*) FROM "case" WHERE conversation_id=:p', person)
        == 1
    )
    # what they write next reaches the case through the process still running
    assert scaled.sms(phone, "estoy en el baño escondida") == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        written = [m.text for m in scaled.store.messages(case.id)]
        if written[-1:] == ["estoy en el baño escondida"]:
            break
        time.sleep(0.2)
    assert written[0] == "mi pareja me pega y tengo miedo"
    assert written[-1] == "estoy en el baño escondida"


def test_the_database_away_for_a_moment_drops_no_message(scaled):
    phone, sid = new_phone(), new_sid()
    scaled.gate.shut()
    try:
        # Not taken: the platform is told to deliver it again, and does.
        assert scaled.sms(phone, "necesito comida", sid) == 503
    finally:
        scaled.gate.open = True
    deadline = time.monotonic() + 30
    while scaled.sms(phone, "necesito comida", sid) != 200:
        assert time.monotonic() < deadline, "still refused with the database back"
        time.sleep(1)
    assert scaled.sms(phone, "necesito comida", sid) == 200  # a repeat: taken once
    answers = scaled.apis.wait(phone, 1, 40)
    assert answers, "the message was dropped"
    time.sleep(REPLAY_AFTER_SECONDS + 1)
    assert len(scaled.apis.messages(phone)) == len(answers)


def test_delete_my_data_leaves_nothing_in_postgresql_or_redis(scaled):
    phone = new_phone()
    person = scaled.person(phone)
    assert scaled.sms(phone, "necesito un albergue en tapachula") == 200
    assert scaled.apis.wait(phone, 1)
    assert person in repr(scaled.everything_stored())
    assert scaled.sms(phone, "BORRAR") == 200
    asked = scaled.apis.wait(phone, len(scaled.apis.messages(phone)) + 1)[-1].text
    assert asked.startswith(reply("utter_confirm_erase", "es"))
    assert scaled.sms(phone, "1") == 200  # "Sí, borrar todo"
    done = scaled.apis.wait(phone, len(scaled.apis.messages(phone)) + 1)[-1].text
    assert done == reply("utter_data_erased", "es")
    stored = scaled.everything_stored()
    assert [table for table, rows in stored.items() if person in rows] == []
    assert [
        k for k in scaled.redis.scan_iter(f"{scaled.prefix}*") if person in str(k)
    ] == []


def test_no_phone_number_in_postgresql_redis_or_any_log(scaled):
    assert scaled.phones and scaled.redis_seen
    digits = {phone[-10:] for phone in scaled.phones}
    stored = scaled.everything_stored()
    assert {"events", "case_message", "contact", "inbound_pending"} <= set(stored)
    places = {
        **{f"table {t}": content for t, content in stored.items()},
        **{f"redis {k}": k + repr(v) for k, v in scaled.redis_seen.items()},
        **{
            f"log {log.name}": log.read_text(errors="replace")
            for log in scaled.stack.folder.glob("*.log")
        },
    }
    leaks = [place for place, content in places.items() for d in digits if d in content]
    assert leaks == []
