"""The whole stack as separate processes on free ports of 127.0.0.1: the action server,
the Rasa server (with the channels asked for) and the caseworker desk, sharing one case
store. Started one way for the end-to-end tests and the load benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NAMES = ("actions", "rasa", "desk")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    folder: Path  # logs, endpoints and credentials go here
    model: Path
    channels: Sequence[str]  # credentials.yml keys, e.g. "channels.twilio.SmsInput"
    env: Mapping[str, str] = field(default_factory=dict)
    endpoints: str = ""  # more of endpoints.yml (a lock store, say)
    ports: dict[str, int] = field(
        default_factory=lambda: {n: free_port() for n in NAMES}
    )
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self) -> float:
        """Starts the three servers; returns the seconds until all answered (the
        action server warmed up). Raises RuntimeError with the Rasa log if not."""
        started = time.monotonic()
        endpoints = self.folder / "endpoints.yml"
        endpoints.write_text(
            f'action_endpoint:\n  url: "{self.url("actions")}/webhook"\n'
            "tracker_store:\n  type: bot.trackers.AmparoTrackerStore\n" + self.endpoints
        )
        credentials = self.folder / "credentials.yml"
        credentials.write_text("".join(f"{channel}:\n" for channel in self.channels))
        env = {
            **os.environ,
            "SANIC_HOST": "127.0.0.1",
            "PYTHONPATH": str(ROOT),
            # Also when not started by make: no telemetry, no crash reports to Sentry.
            "RASA_TELEMETRY_ENABLED": "false",
            # Rasa's history, in the folder unless the caller says where.
            "AMPARO_TRACKER_DB": f"sqlite:///{self.folder / 'tracker.db'}",
        }
        env.update(self.env)
        port = {name: str(number) for name, number in self.ports.items()}
        commands = {
            "actions": [BIN / "rasa", "run", "actions", "--actions", "actions"],
            "rasa": [BIN / "rasa", "run", "--model", self.model, "--interface"],
            "desk": [sys.executable, "-m", "caseworker"],
        }
        commands["actions"] += ["--port", port["actions"]]
        commands["rasa"] += ["127.0.0.1", "--port", port["rasa"], "--credentials"]
        commands["rasa"] += [credentials, "--endpoints", endpoints]
        commands["desk"] += ["--port", port["desk"]]
        for name, command in commands.items():
            with open(self.log(name), "w") as log:
                self.processes[name] = subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                )
        ready = subprocess.run(
            [
                sys.executable,
                "-m",
                "scripts.wait_ready",
                f"{self.url('rasa')}/",
                f"{self.url('actions')}/health",
                f"{self.url('desk')}/health",
                "--pids",
                *(str(p.pid) for p in self.processes.values()),
                "--warm-up",
                self.url("actions"),
            ],
            cwd=ROOT,
            env=env,
            check=False,
        )
        if ready.returncode:
            self.stop()
            raise RuntimeError(
                "the stack did not start:\n" + self.log("rasa").read_text()[-3000:]
            )
        return time.monotonic() - started

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.wait(timeout=30)
