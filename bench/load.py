"""End-to-end load on the whole stack, driven as Twilio and Telegram drive it.

    python -m bench.load [--conversations 8 16] [--rounds 3] [--rasa-processes N]

Starts the action server, the Rasa server and the caseworker desk on 127.0.0.1 (SQLite
tracker and case stores, as `make run`), with fake Twilio and Telegram APIs that record
each reply and when it came. N conversations at a time, each a person on WhatsApp, SMS
or Telegram following one of the scripts below (greetings, menus answered by number,
searches with typed places and pins, a language switch, a disclosure and a handoff),
one message after the other: a turn is timed from the signed webhook request to the
last reply of the turn reaching the fake API. Prints, per concurrency, turns/s and turn
latency p50/p95/p99/max, and the CPU and peak memory of each server; and the start
time of the stack.

With ``--rasa-processes`` above one, that many Rasa servers behind nginx share Redis
as their lock store (deploy/endpoints.yml's, at 127.0.0.1:6379), as README's "Running
at scale" deploys them; the stores stay SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from twilio.request_validator import RequestValidator

from amparo.cases import CaseStore
from bench.common import percentile, table, write_to_readme
from scripts.stack import ROOT, Stack, deployed_lock_store
from tests.e2e.conftest import (
    PUBLIC_URL,
    SMS_NUMBER,
    TELEGRAM_SECRET,
    WHATSAPP_NUMBER,
    phone_settings,
)
from tests.fakes import TWILIO_TOKEN, FakeApis

MODEL = ROOT / "models" / "amparo.tar.gz"
PHONE_CHANNELS = (
    "channels.twilio.WhatsAppInput",
    "channels.twilio.SmsInput",
    "channels.telegram.TelegramInput",
)
TWILIO_GIVES_UP = 15.0  # seconds: later than this, Twilio has dropped the webhook
TAPACHULA, CUCUTA = (14.9063, -92.2631), (7.8939, -72.5078)


@dataclass(frozen=True)
class Pin:
    latitude: float
    longitude: float


# What people write, one message per turn. Numbers answer the numbered menus.
SCRIPTS: list[tuple[str, list]] = [
    ("whatsapp", ["hola", "1", "1", Pin(*TAPACHULA), "mas"]),
    ("whatsapp", ["necesito un albergue en tapachula", "y comida?", "mas"]),
    ("sms", ["hello", "i need a doctor", "cucuta"]),
    ("telegram", ["/start", "english please", "where can i eat", Pin(*CUCUTA)]),
    ("whatsapp", ["oi", "preciso de um abrigo", "estou em boa vista"]),
    ("sms", ["buenas", "donde hay asesoria legal", "estoy en necocli"]),
    ("telegram", ["mi pareja me pega y tengo miedo", "si"]),  # a case is opened
]


@dataclass
class Turns:
    latencies: list[float] = field(default_factory=list)
    late: int = 0  # no reply within Twilio's 15 s
    failed: int = 0  # the webhook did not answer 200


class Person:
    """One conversation on one channel, with its own number or chat id."""

    counter = itertools.count(1)

    def __init__(self, channel: str, rasa: str) -> None:
        self.channel, self.rasa = channel, rasa
        n = next(self.counter)
        self.phone = f"+5215{random.randrange(10**8):08d}"
        self.chat_id = 700_000_000 + n * 1000 + random.randrange(1000)
        self.recipient = {
            "whatsapp": f"whatsapp:{self.phone}",
            "sms": self.phone,
            "telegram": str(self.chat_id),
        }[channel]

    def request(self, message) -> tuple[str, bytes, dict]:
        path = f"/webhooks/{self.channel}/webhook"
        if self.channel == "telegram":
            return (
                path,
                json.dumps(self.update(message)).encode(),
                {
                    "Content-Type": "application/json",
                    "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
                },
            )
        whatsapp = self.channel == "whatsapp"
        fields = {
            "MessageSid": f"SM{random.getrandbits(128):032x}",
            "AccountSid": "AC" + "0" * 32,
            "From": f"whatsapp:{self.phone}" if whatsapp else self.phone,
            "To": f"whatsapp:{WHATSAPP_NUMBER}" if whatsapp else SMS_NUMBER,
            "NumMedia": "0",
        }
        if isinstance(message, Pin):
            fields.update(
                Latitude=str(message.latitude), Longitude=str(message.longitude)
            )
            fields["Body"] = ""
        else:
            fields["Body"] = message
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(
            PUBLIC_URL + path, fields
        )
        return (
            path,
            urllib.parse.urlencode(fields).encode(),
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
        )

    def update(self, message) -> dict:
        sent = {
            "message_id": random.randrange(10**6),
            "date": int(time.time()),
            "chat": {"id": self.chat_id, "type": "private"},
            "from": {"id": self.chat_id, "is_bot": False, "first_name": "P"},
        }
        if isinstance(message, Pin):
            sent["location"] = {
                "latitude": message.latitude,
                "longitude": message.longitude,
            }
        else:
            sent["text"] = message
            if message.startswith("/"):
                sent["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": len(message)}
                ]
        return {"update_id": random.randrange(10**9), "message": sent}


async def converse(
    session: aiohttp.ClientSession, apis: FakeApis, person: Person, script, turns: Turns
) -> None:
    for message in script:
        path, body, headers = person.request(message)
        started = time.monotonic()
        try:
            async with session.post(
                person.rasa + path, data=body, headers=headers
            ) as answer:
                await answer.read()
                ok = answer.status == 200
        except aiohttp.ClientError:
            ok = False
        if not ok:
            turns.failed += 1
            continue
        # The webhook answers once the turn's replies are sent (or after 8 s, the turn
        # going on): wait for the replies, then time the last one.
        deadline = started + TWILIO_GIVES_UP
        replies = []
        while time.monotonic() < deadline:
            replies = [s.at for s in apis.messages(person.recipient) if s.at >= started]
            if replies:
                await asyncio.sleep(0.05)  # the rest of the turn's messages
                replies = [
                    s.at for s in apis.messages(person.recipient) if s.at >= started
                ]
                break
            await asyncio.sleep(0.01)
        if replies:
            turns.latencies.append(max(replies) - started)
        else:
            turns.late += 1


async def load(rasa: str, apis: FakeApis, concurrency: int, rounds: int) -> tuple:
    turns = Turns()
    plan = [SCRIPTS[i % len(SCRIPTS)] for i in range(concurrency * rounds)]
    queue: asyncio.Queue = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            while not queue.empty():
                channel, script = queue.get_nowait()
                await converse(session, apis, Person(channel, rasa), script, turns)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return turns, elapsed


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in ticks


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def lock_store() -> dict:
    """deploy/endpoints.yml's Redis lock store, under a key prefix of this run's."""
    import uuid

    import redis

    store = deployed_lock_store(key_prefix=f"amparobench{uuid.uuid4().hex[:8]}")
    try:
        redis.Redis(store["url"], store["port"], store["db"]).ping()
    except redis.RedisError:
        raise SystemExit(
            f"several Rasa processes need Redis at {store['url']}:{store['port']}"
        ) from None
    return store


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--conversations", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--rasa-processes", type=int, default=1)
    parser.add_argument(
        "--readme",
        action="store_true",
        help="also write the tables into README.md (make bench does)",
    )
    args = parser.parse_args(argv)
    block = f"bench.load rasa-processes={args.rasa_processes}"
    if args.readme:  # before minutes of measuring, not after
        write_to_readme(block, "", check_only=True)
    apis = FakeApis()
    apis.serve()
    with tempfile.TemporaryDirectory(prefix="amparo-load-") as folder:
        tmp = Path(folder)
        cases_db = f"sqlite:///{tmp / 'cases.db'}"
        CaseStore.from_url(cases_db)
        stack = Stack(
            tmp,
            args.model,
            PHONE_CHANNELS,
            {
                "AMPARO_CASES_DB": cases_db,
                "AMPARO_TEAM_HOURS": "24/7",
                **phone_settings(apis.url),
            },
            lock_store=lock_store() if args.rasa_processes > 1 else None,
            rasa_processes=args.rasa_processes,
        )
        ready = stack.start()
        try:
            rows, cpu = [], []
            pids = {name: p.pid for name, p in stack.processes.items()}
            # This process too: it plays the people and the platforms' APIs, on the
            # same two cores.
            me = os.getpid()
            # One round first, unmeasured, every script on every Rasa process: the
            # first turns load what loads lazily.
            warm = len(SCRIPTS) * args.rasa_processes
            asyncio.run(load(stack.url("rasa"), apis, warm, 1))
            for concurrency in args.conversations:
                before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                before_me = cpu_seconds(me)
                turns, elapsed = asyncio.run(
                    load(stack.url("rasa"), apis, concurrency, args.rounds)
                )
                used = {n: cpu_seconds(p) - before[n] for n, p in pids.items()}
                used_me = cpu_seconds(me) - before_me
                ms = [1000 * t for t in turns.latencies]
                rows.append(
                    [
                        concurrency,
                        len(ms),
                        f"{len(ms) / elapsed:.1f}",
                        f"{percentile(ms, 50):.0f}",
                        f"{percentile(ms, 95):.0f}",
                        f"{percentile(ms, 99):.0f}",
                        f"{max(ms):.0f}" if ms else "-",
                        turns.late,
                        turns.failed,
                    ]
                )
                cpu.append(
                    [concurrency]
                    + [f"{100 * used[name] / elapsed:.0f}" for name in pids]
                    + [f"{100 * used_me / elapsed:.0f}"]
                )
            peaks = [f"{peak_mb(pid):.0f}" for pid in pids.values()]
        finally:
            stack.stop()
    report = "\n\n".join(
        [
            f"Stack ready in {ready:.1f} s ({', '.join(pids)}; models loaded, actions"
            " warm).",
            table(
                [
                    "conversations",
                    "turns",
                    "turns/s",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                    "no reply in 15 s",
                    "failed",
                ],
                rows,
            ),
            table(
                ["conversations"]
                + [f"{n} CPU %" for n in pids]
                + ["load generator and fake APIs CPU %"],
                cpu,
            ),
            table([f"{n} peak MB" for n in pids], [peaks]),
        ]
    )
    print(report)
    if args.readme:
        when = time.strftime("%Y-%m-%d", time.gmtime())
        write_to_readme(
            block,
            f"*Measured {when} on {os.cpu_count()} cores, `--rounds {args.rounds}`.*"
            f"\n\n{report}",
        )


if __name__ == "__main__":
    main()
