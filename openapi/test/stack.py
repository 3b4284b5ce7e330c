"""The real CloudCord stack the contract test fuzzes.

`cloudcord up` — every service behind the front door, one origin — beside any
`make up` on the shared infrastructure: a free port for the front door, any port
for the services, and a namespace of its own (topic prefix, PostgreSQL schemas,
Mongo database) named after the checkout, so a run reuses the previous run's topics
instead of leaving new ones on the shared broker. Every run registers users with
fresh names, so old data is harmless.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: A debug build on a shared 2-core machine, first run on a fresh broker.
START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Answer:
    status: int
    body: object
    #: `X-CloudCord-Position` of a write: a read naming it waits until it shows.
    position: str | None


def call(
    method: str,
    url: str,
    body: object | None = None,
    token: str | None = None,
    position: str | None = None,
) -> Answer:
    """One JSON request."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if position is not None:
        headers["X-CloudCord-Position"] = position
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return Answer(response.status, json.loads(raw) if raw else None, response.headers.get("X-CloudCord-Position"))
    except urllib.error.HTTPError as error:
        raw = error.read()
        return Answer(error.code, json.loads(raw) if raw else None, None)


@dataclass
class Stack:
    binary: Path
    state_dir: Path
    base_url: str = ""
    #: The topic prefix (without its dot), PostgreSQL schema and Mongo database.
    namespace: str = ""
    process: subprocess.Popen | None = None

    def start(self) -> None:
        if not self.binary.exists():
            raise RuntimeError(f"{self.binary} is missing: run `cargo build -p cloudcord`")
        namespace = self.namespace = "api_" + hashlib.sha256(str(REPO).encode()).hexdigest()[:10]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        gateway = f"ws://127.0.0.1:{port}/gateway"
        any_port = "127.0.0.1:0"
        settings = {
            "kafka__topic_prefix": f"{namespace}.",
            "projectors__postgres_schema": namespace,
            "query_api__http__postgres_schema": namespace,
            "gateway_ws__http__postgres_schema": namespace,
            "gateway_ws__sessions__store_schema": f"{namespace}_gateway",
            "query_api__session_starts__store_schema": f"{namespace}_gateway",
            "command_api__http__oauth__schema": f"{namespace}_oauth",
            # The fuzzer sends thousands of requests as one user; the rate limits
            # have tests of their own.
            "command_api__http__rate_limits__enabled": "false",
            "query_api__http__rate_limits__enabled": "false",
            "mongo__database": namespace,
            "command_api__processor__state_dir": str(self.state_dir / "processor"),
            "auth__signing_key_path": str(self.state_dir / "ed25519.pem"),
            "front_door__listen_addr": f"127.0.0.1:{port}",
            "query_api__http__gateway_url": gateway,
            "gateway_ws__http__resume_gateway_url": gateway,
            "command_api__admin__listen_addr": any_port,
            "command_api__http__listen_addr": any_port,
            "query_api__admin__listen_addr": any_port,
            "query_api__http__listen_addr": any_port,
            "projectors__admin__listen_addr": any_port,
            "gateway_ws__admin__listen_addr": any_port,
            "gateway_ws__http__listen_addr": any_port,
            "sfu__admin__listen_addr": any_port,
        }
        env = dict(os.environ)
        # The shared infrastructure, where `make` keeps it, also when run without make.
        env.setdefault("CLOUDCORD__INFRA__STATE_DIR", str(REPO / ".cloudcord"))
        env.setdefault("CLOUDCORD__INFRA__CACHE_DIR", str(Path.home() / ".cache/cloudcord"))
        for key, value in settings.items():
            env[f"CLOUDCORD__{key.upper()}"] = value
        log = open(self.state_dir / "stack.log", "wb")  # noqa: SIM115 - the child writes it
        self.process = subprocess.Popen(
            [str(self.binary), "up"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        """Registration goes through command-api, Kafka and the accounts projection:
        when it answers, the write path is up."""
        deadline = time.monotonic() + START_TIMEOUT_S
        attempt = 0
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"cloudcord up exited with {self.process.returncode}; see {self.state_dir / 'stack.log'}"
                )
            attempt += 1
            probe = {"username": f"probe_{time.time_ns():x}_{attempt}", "password": "probe-password-1"}
            try:
                if call("POST", f"{self.base_url}/api/v10/auth/register", probe).status == 201:
                    return
            except OSError:
                pass  # Not listening yet.
            time.sleep(1)
        raise RuntimeError(f"the stack did not come up in {START_TIMEOUT_S} s; see {self.state_dir / 'stack.log'}")

    def log(self) -> str:
        """What the stack has logged so far."""
        return (self.state_dir / "stack.log").read_text(errors="replace")

    def stop(self) -> None:
        """As Ctrl-C on `make up`: the services stop cleanly; a stack stuck for 30 s is killed."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
