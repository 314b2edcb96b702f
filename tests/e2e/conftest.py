"""A real stack for whole-conversation tests: action server + Rasa server + web chat.

Uses the model `make test` trained (AMPARO_MODEL, default models/amparo.tar.gz).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path(os.environ.get("AMPARO_MODEL", ROOT / "models" / "amparo.tar.gz"))
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    text: str
    buttons: list[dict]
    language: str | None


class ReplyLanguages:
    """Tells which language a reply is in by matching it to the domain's variations."""

    def __init__(self) -> None:
        self.patterns: list[tuple[re.Pattern, str]] = []
        for path in sorted((ROOT / "bot" / "domain").glob("*.yml")):
            responses = yaml.safe_load(path.read_text()).get("responses") or {}
            for variations in responses.values():
                for variation in variations:
                    language = next(
                        c["value"]
                        for c in variation["condition"]
                        if c["name"] == "language"
                    )
                    template = " ".join(variation["text"].split())
                    parts = re.split(r"\{[^{}]+\}", template)
                    pattern = "(.+)".join(re.escape(p) for p in parts)
                    self.patterns.append((re.compile(f"^{pattern}$", re.S), language))

    def of(self, text: str) -> str | None:
        text = " ".join(text.split())
        found = {lang for pattern, lang in self.patterns if pattern.match(text)}
        return found.pop() if len(found) == 1 else None


class Chat:
    def __init__(self, base: str) -> None:
        self.base = base
        self.languages = ReplyLanguages()

    def post(self, body: object) -> tuple[int, object]:
        request = urllib.request.Request(
            f"{self.base}/webhooks/webchat/webhook",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def say(self, sender: str, text: str, **metadata: str) -> list[Reply]:
        status, replies = self.post(
            {"sender": sender, "message": text, "metadata": metadata}
        )
        assert status == 200, (text, status, replies)
        assert replies, f"no reply to {text!r}"
        return [
            Reply(
                r.get("text", ""),
                r.get("buttons") or [],
                self.languages.of(r.get("text", "")),
            )
            for r in replies
        ]


@pytest.fixture(scope="session")
def chat(tmp_path_factory) -> Iterator[Chat]:
    if not MODEL.is_file():
        pytest.skip(f"no trained model at {MODEL}: run `make test`, which trains first")
    tmp = tmp_path_factory.mktemp("stack")
    actions_port, rasa_port = free_port(), free_port()
    endpoints = tmp / "endpoints.yml"
    endpoints.write_text(
        f'action_endpoint:\n  url: "http://127.0.0.1:{actions_port}/webhook"\n'
    )
    credentials = tmp / "credentials.yml"
    credentials.write_text("channels.webchat.WebChatInput:\n")
    env = {**os.environ, "SANIC_HOST": "127.0.0.1", "PYTHONPATH": str(ROOT)}
    logs = [open(tmp / name, "w") for name in ("actions.log", "rasa.log")]  # noqa: SIM115
    processes = [
        subprocess.Popen(
            [
                BIN / "rasa",
                "run",
                "actions",
                "--actions",
                "actions",
                "--port",
                str(actions_port),
            ],
            cwd=ROOT,
            env=env,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                BIN / "rasa",
                "run",
                "--model",
                MODEL,
                "--interface",
                "127.0.0.1",
                "--port",
                str(rasa_port),
                "--credentials",
                credentials,
                "--endpoints",
                endpoints,
            ],
            cwd=ROOT,
            env=env,
            stdout=logs[1],
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        ready = subprocess.run(
            [
                sys.executable,
                "-m",
                "scripts.wait_ready",
                f"http://127.0.0.1:{rasa_port}/",
                f"http://127.0.0.1:{actions_port}/health",
                "--pids",
                *(str(p.pid) for p in processes),
                "--warm-up",
                f"http://127.0.0.1:{actions_port}",
            ],
            cwd=ROOT,
            env=env,
            check=False,
        )
        if ready.returncode:
            pytest.fail(
                "the stack did not start:\n" + (tmp / "rasa.log").read_text()[-3000:]
            )
        yield Chat(f"http://127.0.0.1:{rasa_port}")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        for log in logs:
            log.close()
