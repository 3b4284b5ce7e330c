"""The running CloudCord stack the monitoring tests scrape.

It starts the five service binaries as separate processes — the way the Helm chart
runs them, one Deployment each — beside any `make up` on the shared infrastructure:
free ports for every listener, and a namespace of its own (topic prefix, PostgreSQL
schemas, Mongo database) named after the checkout, so a run reuses the previous
run's topics instead of leaving new ones on the shared broker. Then it drives real
traffic through the write API, the read API and the gateway so that every metric
family with labels has samples.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("command-api", "query-api", "projectors", "gateway-ws", "sfu")
#: A debug build on a shared 2-core machine, first run on a fresh broker.
START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Stack:
    """The five processes, their admin ports and their logs."""

    bin_dir: Path
    state_dir: Path
    admin_ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    write_url: str = ""
    read_url: str = ""
    gateway_url: str = ""

    def start(self) -> None:
        namespace = "ops_" + hashlib.sha256(str(REPO).encode()).hexdigest()[:10]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.admin_ports = {name: free_port() for name in SERVICES}
        write, read, gateway = free_port(), free_port(), free_port()
        self.write_url = f"http://127.0.0.1:{write}"
        self.read_url = f"http://127.0.0.1:{read}"
        self.gateway_url = f"ws://127.0.0.1:{gateway}"
        settings = {
            "kafka__topic_prefix": f"{namespace}.",
            "projectors__postgres_schema": namespace,
            "query_api__http__postgres_schema": namespace,
            "gateway_ws__http__postgres_schema": namespace,
            "gateway_ws__sessions__handover_schema": f"{namespace}_gateway",
            "mongo__database": namespace,
            "command_api__processor__state_dir": str(self.state_dir / "processor"),
            "auth__signing_key_path": str(self.state_dir / "ed25519.pem"),
            "command_api__http__listen_addr": f"127.0.0.1:{write}",
            "query_api__http__listen_addr": f"127.0.0.1:{read}",
            "query_api__http__jwks_url": f"{self.write_url}/.well-known/jwks.json",
            "query_api__http__gateway_url": self.gateway_url,
            "gateway_ws__http__listen_addr": f"127.0.0.1:{gateway}",
            "gateway_ws__http__jwks_url": f"{self.write_url}/.well-known/jwks.json",
            "gateway_ws__http__resume_gateway_url": self.gateway_url,
            "sfu__http__listen_addr": f"127.0.0.1:{free_port()}",
            "sfu__http__jwks_url": f"{self.write_url}/.well-known/jwks.json",
            "sfu__media__udp_listen_addr": "127.0.0.1:0",
            "telemetry__format": "json",
        }
        for name, port in self.admin_ports.items():
            settings[f"{name.replace('-', '_')}__admin__listen_addr"] = f"127.0.0.1:{port}"
        env = dict(os.environ)
        for key, value in settings.items():
            env[f"CLOUDCORD__{key.upper()}"] = value
        # command-api first: the others fetch its JWKS when they start.
        for name in SERVICES:
            log = open(self.state_dir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
            self.processes[name] = subprocess.Popen(
                [str(self.bin_dir / name)], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            if name == "command-api":
                self._wait(lambda: self._get(f"{self.write_url}/.well-known/jwks.json"), name)
        for name in SERVICES:
            self._wait(lambda name=name: self._get(self.admin_url(name) + "/readyz"), name)

    def admin_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.admin_ports[service]}"

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_tail(self, service: str, lines: int = 30) -> str:
        text = (self.state_dir / f"{service}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _wait(self, probe, name: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log_tail(name)}")
            try:
                probe()
                return
            except (OSError, urllib.error.URLError):
                time.sleep(1)
        raise RuntimeError(f"{name} was not ready in {START_TIMEOUT_S} s:\n{self.log_tail(name)}")

    @staticmethod
    def _get(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read()

    def scrape(self, service: str) -> str:
        return self._get(self.admin_url(service) + "/metrics").decode()


def request(method: str, url: str, body=None, token: str | None = None, expect=(200, 201, 204)):
    """One JSON request; returns the decoded answer."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    if status not in expect:
        raise AssertionError(f"{method} {url}: {status} {text[:300]!r}")
    if status >= 400:
        return None
    return json.loads(text) if text else None
