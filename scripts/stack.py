"""The whole stack as separate processes on free ports of 127.0.0.1: the action server,
the Rasa server (with the channels asked for) and the caseworker desk, sharing one case
store. Started one way for the end-to-end tests and the load benchmark.

With ``rasa_processes`` above one, as README's "Running at scale" deploys it: that many
Rasa servers behind nginx, configured by deploy/nginx.conf itself (its ports changed to
free ones); ``url("rasa")`` is then nginx's."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NAMES = ("actions", "rasa", "desk")
NGINX = os.environ.get("AMPARO_NGINX", "/usr/sbin/nginx")
# Around deploy/nginx.conf (an http-level file): what a whole nginx needs to run as
# this user, in the stack's folder. The access log says which process took a request.
NGINX_MAIN = """daemon off;
{user}pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format upstream '$request_uri $status $upstream_addr';
    access_log {folder}/nginx-access.log upstream;
    client_body_temp_path {folder}/nginx-body;
    proxy_temp_path {folder}/nginx-proxy;
    include {folder}/nginx-site.conf;
}}
"""


def deployed_lock_store(**changes: object) -> dict:
    """deploy/endpoints.yml's lock store (Redis), with ``changes`` (a key prefix of
    one run's own, another Redis)."""
    deployed = yaml.safe_load((ROOT / "deploy" / "endpoints.yml").read_text())
    return deployed["lock_store"] | changes


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
    lock_store: Mapping | None = None  # endpoints.yml's; Rasa's own in memory if None
    rasa_processes: int = 1  # more: behind nginx
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [*NAMES, *self.rasa_names[1:]]
        if self.rasa_processes > 1:
            names.append("nginx")
        self.ports = {name: free_port() for name in names} | self.ports

    @property
    def rasa_names(self) -> list[str]:
        """The Rasa servers' names: rasa, rasa-2, ..."""
        return ["rasa"] + [f"rasa-{n}" for n in range(2, self.rasa_processes + 1)]

    def url(self, name: str) -> str:
        """A server's address; "rasa" is nginx's when there are several."""
        if name == "rasa" and self.rasa_processes > 1:
            name = "nginx"
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self) -> float:
        """Starts the servers; returns the seconds until all answered (the action
        server warmed up). Raises RuntimeError with the Rasa log if not."""
        started = time.monotonic()
        endpoints = self.folder / "endpoints.yml"
        config = yaml.safe_load((ROOT / "endpoints.yml").read_text())
        config["action_endpoint"]["url"] = f"{self.url('actions')}/webhook"
        if self.lock_store:
            config["lock_store"] = dict(self.lock_store)
        endpoints.write_text(yaml.safe_dump(config))
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
            "desk": [sys.executable, "-m", "caseworker"],
        }
        commands["actions"] += ["--port", port["actions"]]
        commands["desk"] += ["--port", port["desk"]]
        for name in self.rasa_names:
            commands[name] = [BIN / "rasa", "run", "--model", self.model]
            commands[name] += ["--interface", "127.0.0.1", "--port", port[name]]
            commands[name] += ["--credentials", credentials, "--endpoints", endpoints]
        proxy = self.nginx() if self.rasa_processes > 1 else None
        for name, command in commands.items():
            self.launch(name, command, env)
        self.wait_ready(
            env,
            *(f"http://127.0.0.1:{self.ports[name]}/" for name in self.rasa_names),
            f"{self.url('actions')}/health",
            f"{self.url('desk')}/health",
            "--warm-up",
            self.url("actions"),
        )
        if proxy:
            # only now: a process still loading would be taken out of its rotation
            self.launch("nginx", proxy, env)
            self.wait_ready(env, f"{self.url('nginx')}/")
        return time.monotonic() - started

    def launch(self, name: str, command: list, env: dict[str, str]) -> None:
        with open(self.log(name), "w") as log:
            self.processes[name] = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, env: dict[str, str], *urls: str) -> None:
        """Until every URL answers; RuntimeError (the stack stopped) if not."""
        ready = subprocess.run(
            [sys.executable, "-m", "scripts.wait_ready", *urls, "--pids"]
            + [str(p.pid) for p in self.processes.values()],
            cwd=ROOT,
            env=env,
            check=False,
        )
        if ready.returncode:
            self.stop()
            raise RuntimeError(
                "the stack did not start:\n" + self.log("rasa").read_text()[-3000:]
            )

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def nginx(self) -> list[str]:
        """nginx's command, with deploy/nginx.conf's upstreams and port made this
        stack's."""
        if not Path(NGINX).is_file() and not shutil.which(NGINX):
            raise RuntimeError(f"no nginx at {NGINX} (set AMPARO_NGINX)")
        site = (ROOT / "deploy" / "nginx.conf").read_text()
        upstreams = re.findall(r"server 127\.0\.0\.1:\d+", site)
        if len(upstreams) != self.rasa_processes:
            raise ValueError(
                f"deploy/nginx.conf has {len(upstreams)} Rasa processes, "
                f"not {self.rasa_processes}"
            )
        servers = iter(self.rasa_names)
        site = re.sub(
            r"server 127\.0\.0\.1:\d+",
            lambda _: f"server 127.0.0.1:{self.ports[next(servers)]}",
            site,
        )
        site = re.sub(
            r"listen 127\.0\.0\.1:\d+", f"listen 127.0.0.1:{self.ports['nginx']}", site
        )
        (self.folder / "nginx-site.conf").write_text(site)
        main = self.folder / "nginx.conf"
        # as root, its workers would be "nobody", shut out of the folder
        user = "user root;\n" if os.geteuid() == 0 else ""
        main.write_text(NGINX_MAIN.format(folder=self.folder, user=user))
        return [NGINX, "-e", str(self.folder / "nginx-error.log"), "-c", str(main)]

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.wait(timeout=30)
