"""Tenant isolation, proven across every REST route and every gateway dispatch.

alice owns guild A (a text channel, a voice channel, a message, a role, an invite,
an application) and shares a DM with carol, who is a member of A; bob owns guild B;
mallory is in neither. Every string alice writes carries a secret marker.

* **REST**: every operation of the committed OpenAPI document — which is generated
  from the route table, so a new route is in it without anyone adding it here — is
  called by bob and by mallory with alice's ids in its path and required query
  parameters (channel and message routes once with A's channel and once with the
  DM) and a body valid for its schema. An operation on someone else's resource must be refused (403 or 404);
  operations on the caller's own account may succeed. No answer may contain a
  marker, the DM's id, or any id of A other than in the few public answers listed
  in `PUBLIC`.
* **Gateway**: bob and mallory are connected with every intent while alice and carol
  cause every dispatch the gateway sends — the names are read from the gateway's
  source, so a new dispatch fails this test until the scenario causes it. alice and
  carol must receive each one; bob and mallory none that names A, the DM or a marker.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from websockets.sync.client import connect

from bundle import bundle
from stack import Answer, Stack, call

REPO = Path(__file__).resolve().parents[2]
SECRET = f"isolation-secret-{time.time_ns():x}"
#: Every intent a user may ask for (bits 0–16, 20, 21, 24, 25).
ALL_INTENTS = (1 << 17) - 1 | 1 << 20 | 1 << 21 | 1 << 24 | 1 << 25
#: Operations that act on the caller's own account, or that anyone may call: an
#: outsider may succeed (what they answer is still checked for leaks).
SELF_OR_PUBLIC = {
    ("post", "/guilds"),
    ("post", "/applications"),
    ("post", "/users/@me/channels"),  # opens the caller's own DM with alice
    ("post", "/users/@me/relationships"),
    ("put", "/users/@me/relationships/{user_id}"),
    ("delete", "/users/@me/relationships/{user_id}"),
    ("get", "/users/{user_id}"),  # a public profile
    ("get", "/invites/{code}"),  # an invite's public preview
    ("post", "/invites/{code}"),  # accepting an invite is joining: run last
}
#: Operations whose target is in their query or body, not their path: adding a bot
#: names the guild in the body.
TARGET_OUTSIDE_PATH = {("post", "/oauth2/authorize")}
#: Answers that may name A by design: an invite's preview names its guild and
#: channel (not their contents), and accepting one makes the caller a member.
PUBLIC = {("get", "/invites/{code}"), ("post", "/invites/{code}")}
#: Bodies that rules beyond the schema would refuse as the example makes them (a
#: message needs content; a bulk delete, 2 to 100 ids), so that the request reaches
#: the authorization check instead of a 400 for its shape.
BODIES = {
    ("post", "/channels/{channel_id}/messages"): lambda w: {"content": "isolation"},
    ("post", "/oauth2/authorize"): lambda w: {"guild_id": w.guild, "permissions": "8", "authorize": True},
    ("patch", "/channels/{channel_id}/messages/{message_id}"): lambda w: {"content": "isolation"},
    ("post", "/channels/{channel_id}/messages/bulk-delete"): lambda w: {"messages": [w.message, w.dm_message]},
}
#: The dispatches of the session itself, not of anything in a guild or DM.
SESSION_DISPATCHES = {"READY", "RESUMED"}


def dispatch_names() -> set[str]:
    """Every dispatch name in the gateway's source (`"MESSAGE_CREATE"`, …)."""
    names: set[str] = set()
    for source in (REPO / "gateway-ws" / "src").rglob("*.rs"):
        text = source.read_text()
        names |= set(re.findall(r'"([A-Z]+(?:_[A-Z]+)*_(?:CREATE|UPDATE|DELETE|ADD|REMOVE|START))"', text))
    return names


@dataclass
class Person:
    name: str
    token: str
    id: str
    position: str | None = None


@dataclass
class Listener:
    """A gateway session with every intent, collecting what it receives."""

    url: str
    person: Person
    received: list[dict] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()
        assert self.ready.wait(60), f"{self.person.name}'s session never became ready: {self.error}"

    def send(self, payload: dict) -> None:
        self._socket.send(json.dumps(payload))

    def _run(self) -> None:
        try:
            with connect(f"{self.url}?v=10&encoding=json", max_size=None) as socket:
                self._socket = socket
                hello = json.loads(socket.recv(timeout=30))
                interval = hello["d"]["heartbeat_interval"] / 1000
                socket.send(json.dumps({
                    "op": 2,
                    "d": {
                        "token": self.person.token,
                        "intents": ALL_INTENTS,
                        "properties": {"os": "linux", "browser": "isolation", "device": "isolation"},
                    },
                }))
                beat = time.monotonic() + interval / 2
                seq = None
                while not self.stop.is_set():
                    if time.monotonic() >= beat:
                        socket.send(json.dumps({"op": 1, "d": seq}))
                        beat = time.monotonic() + interval / 2
                    try:
                        message = json.loads(socket.recv(timeout=0.5))
                    except TimeoutError:
                        continue
                    if message.get("s") is not None:
                        seq = message["s"]
                    if message.get("op") == 0:
                        self.received.append(message)
                        if message["t"] == "READY":
                            self.ready.set()
        except BaseException as error:  # noqa: BLE001 - reported by start() and the test
            self.error = error
            self.ready.set()

    def names(self) -> set[str]:
        return {message["t"] for message in self.received}


class World:
    """Everyone, and everything alice owns."""

    def __init__(self, stack: Stack) -> None:
        self.api = f"{stack.base_url}/api/v10"
        self.gateway = stack.base_url.replace("http", "ws", 1) + "/gateway"
        self.alice = self.register("alice")
        self.bob = self.register("bob")
        self.mallory = self.register("mallory")
        self.carol = self.register("carol")
        self.dave = self.register("dave")

    def register(self, who: str) -> Person:
        name = f"{who}_{time.time_ns():x}"
        answer = call("POST", f"{self.api}/auth/register", {"username": name, "password": "isolation-password-1"})
        assert answer.status == 201, answer
        token = answer.body["token"]
        me = call("GET", f"{self.api}/users/@me", token=token, position=answer.position)
        assert me.status == 200, me
        return Person(name, token, me.body["id"], answer.position)

    def ok(self, person: Person, method: str, path: str, body: object | None = None) -> Answer:
        answer = call(method, f"{self.api}{path}", body, person.token)
        assert answer.status < 300, (method, path, answer)
        person.position = answer.position or person.position
        return answer

    def build(self) -> None:
        """alice's guild A with carol and dave in it, the alice–carol DM, bob's B."""
        alice = self.alice
        self.guild = self.ok(alice, "POST", "/guilds", {"name": "Guild A"}).body["id"]
        g = f"/guilds/{self.guild}"
        self.channel = self.ok(alice, "POST", f"{g}/channels", {"name": "general-a", "topic": SECRET}).body["id"]
        self.voice = self.ok(alice, "POST", f"{g}/channels", {"name": "voice-a", "type": 2}).body["id"]
        self.role = self.ok(alice, "POST", f"{g}/roles", {"name": SECRET[:90]}).body["id"]
        self.code = self.ok(alice, "POST", f"/channels/{self.channel}/invites", {}).body["code"]
        for member in (self.carol, self.dave):
            self.ok(member, "POST", f"/invites/{self.code}")
        self.message = self.ok(alice, "POST", f"/channels/{self.channel}/messages", {"content": SECRET}).body["id"]
        self.dm = self.ok(alice, "POST", "/users/@me/channels", {"recipient_id": self.carol.id}).body["id"]
        self.dm_message = self.ok(alice, "POST", f"/channels/{self.dm}/messages", {"content": SECRET}).body["id"]
        self.application = self.ok(alice, "POST", "/applications", {"name": "Alice Bot"}).body["id"]
        self.ok(self.bob, "POST", "/guilds", {"name": "Guild B"})

    def secrets(self) -> list[str]:
        """What no outsider may ever see."""
        return [SECRET, self.dm, self.dm_message, self.message, self.channel, self.role, self.guild]


def example(schema: dict, components: dict, fill: dict[str, str]) -> object:
    """A value valid for `schema`: required properties only, ids from `fill`."""
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return example(schema[key][0], components, fill)
    if "allOf" in schema:
        merged: dict = {}
        for part in schema["allOf"]:
            value = example(part, components, fill)
            if isinstance(value, dict):
                merged |= value
        return merged
    if "enum" in schema:
        return schema["enum"][0]
    kinds = schema.get("type", "object")
    kind = next((k for k in ([kinds] if isinstance(kinds, str) else kinds) if k != "null"), "null")
    if kind == "object":
        return {
            name: example(schema["properties"][name], components, fill)
            for name in schema.get("required", [])
        }
    if kind == "array":
        return []
    if kind == "string":
        if schema.get("pattern", "").startswith("^[0-9]") or schema.get("format") == "snowflake":
            return fill["user_id"]
        return "isolation"
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 0), 0)
    if kind == "boolean":
        return False
    return None


def operations(world: World) -> list[tuple[str, str, dict, dict]]:
    """(method, path, operation, components) for every operation in the document."""
    document = bundle({})
    components = document["components"]["schemas"]
    return [
        (method, path, operation, components)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "put", "post", "patch", "delete")
    ]


def fillings(world: World, path: str) -> list[dict[str, str]]:
    """alice's ids for the path's parameters: for channel routes, A's channel and
    the DM in turn."""
    base = {
        "guild_id": world.guild,
        "channel_id": world.channel,
        "message_id": world.message,
        "role_id": world.role,
        "user_id": world.carol.id,
        "overwrite_id": world.role,
        "code": world.code,
        "emoji": quote("🔥"),
        "application_id": world.application,
        "client_id": world.application,
        "scope": "bot",
    }
    if "{channel_id}" not in path:
        return [base]
    if "{guild_id}" in path:
        return [base]
    return [base, base | {"channel_id": world.dm, "message_id": world.dm_message}]


def test_no_route_and_no_dispatch_leaks_another_tenants_data(stack: Stack) -> None:
    world = World(stack)
    outsiders = [Listener(world.gateway, world.bob), Listener(world.gateway, world.mallory)]
    insiders = [Listener(world.gateway, world.alice), Listener(world.gateway, world.carol)]
    for listener in outsiders + insiders:
        listener.start()
    world.build()

    # REST: every operation, as bob and as mallory, on alice's things.
    problems: list[str] = []
    joins: list[tuple[Person, str]] = []
    for method, path, operation, components in operations(world):
        for outsider in (world.bob, world.mallory):
            for fill in fillings(world, path):
                url = path
                for name, value in fill.items():
                    url = url.replace("{" + name + "}", value)
                query = [
                    f"{parameter['name']}={quote(fill[parameter['name']])}"
                    for parameter in operation.get("parameters", [])
                    if parameter["in"] == "query" and parameter.get("required")
                ]
                if query:
                    url += "?" + "&".join(query)
                if (method, path) == ("post", "/invites/{code}"):
                    joins.append((outsider, url))
                    continue
                if path in ("/auth/logout",):
                    continue  # ends the caller's own session: tested in command-api
                body = None
                content = operation.get("requestBody", {}).get("content", {}).get("application/json")
                if (method, path) in BODIES:
                    body = BODIES[(method, path)](world)
                elif content:
                    body = example(content["schema"], components, fill)
                answer = call(method.upper(), world.api + url, body, outsider.token)
                label = f"{method.upper()} {url} as {outsider.name.split('_')[0]}"
                own = (method, path) in SELF_OR_PUBLIC or (
                    "{" not in path and (method, path) not in TARGET_OUTSIDE_PATH
                )
                if not own and answer.status not in (403, 404):
                    problems.append(f"{label}: {answer.status} {answer.body}")
                text = json.dumps(answer.body)
                leaked = [s for s in world.secrets() if s in text]
                if (method, path) in PUBLIC:
                    leaked = [s for s in leaked if s not in (world.guild, world.channel)]
                if leaked:
                    problems.append(f"{label} leaked {leaked}: {text[:300]}")
    assert not problems, "\n".join(problems)

    # Gateway: everything alice and carol do reaches them, and nothing of it reaches
    # bob or mallory.
    scenario(world, insiders[1])
    expected = dispatch_names() - SESSION_DISPATCHES
    # The dispatches trail the writes (projected, then fanned out), more so on a
    # busy machine: wait for them, then a little longer for any stray one an
    # outsider might still receive.
    deadline = time.monotonic() + 60
    while not expected <= insiders[0].names() | insiders[1].names() and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)
    for listener in outsiders + insiders:
        listener.stop.set()
        assert listener.error is None or "ConnectionClosed" in type(listener.error).__name__, listener.error
    seen = insiders[0].names() | insiders[1].names()
    assert expected <= seen, f"the scenario never caused {sorted(expected - seen)}"
    for listener in outsiders:
        assert "GUILD_CREATE" in listener.names() or listener.person is world.mallory, listener.names()
        for message in listener.received:
            text = json.dumps(message["d"])
            leaked = [s for s in world.secrets() if s in text]
            assert not leaked, f"{listener.person.name} received {message['t']} naming {leaked}: {text[:300]}"

    # Last: an invite is a capability — holding one, an outsider may join.
    for outsider, url in joins:
        assert call("POST", world.api + url, None, outsider.token).status == 200


def scenario(world: World, carol: Listener) -> None:
    """Causes every guild and DM dispatch, as alice and carol."""
    alice, g = world.alice, f"/guilds/{world.guild}"
    c, m = world.channel, world.message
    world.ok(alice, "PATCH", g, {"name": "Guild A renamed"})
    extra = world.ok(alice, "POST", f"{g}/channels", {"name": "extra-a", "topic": SECRET}).body["id"]
    world.ok(alice, "PATCH", f"/channels/{extra}", {"topic": SECRET + " again"})
    world.ok(alice, "DELETE", f"/channels/{extra}")
    role = world.ok(alice, "POST", f"{g}/roles", {"name": "temporary"}).body["id"]
    world.ok(alice, "PATCH", f"{g}/roles/{role}", {"name": SECRET[:90]})
    world.ok(alice, "DELETE", f"{g}/roles/{role}")
    world.ok(alice, "PATCH", f"{g}/members/{world.carol.id}", {"nick": "carol-a"})
    sent = world.ok(alice, "POST", f"/channels/{c}/messages", {"content": SECRET}).body["id"]
    world.ok(alice, "PATCH", f"/channels/{c}/messages/{sent}", {"content": SECRET + " edited"})
    world.ok(alice, "PUT", f"/channels/{c}/messages/{m}/reactions/{quote('🔥')}/@me")
    world.ok(alice, "DELETE", f"/channels/{c}/messages/{m}/reactions/{quote('🔥')}/@me")
    world.ok(alice, "PUT", f"/channels/{c}/pins/{m}")
    world.ok(alice, "POST", f"/channels/{c}/typing")
    world.ok(alice, "DELETE", f"/channels/{c}/messages/{sent}")
    code = world.ok(alice, "POST", f"/channels/{c}/invites", {}).body["code"]
    world.ok(alice, "DELETE", f"/invites/{code}")
    world.ok(alice, "PUT", f"{g}/bans/{world.dave.id}", {})
    world.ok(alice, "DELETE", f"{g}/bans/{world.dave.id}")
    world.ok(alice, "PATCH", "/users/@me", {"global_name": "Alice A"})
    # Read states and notification settings: only the user's own sessions hear them.
    world.ok(alice, "POST", f"/channels/{c}/messages/{m}/ack", {"token": None})
    world.ok(alice, "PATCH", f"/users/@me/guilds/{world.guild}/settings", {"muted": True})
    world.ok(world.carol, "POST", f"/channels/{world.dm}/messages/{world.dm_message}/ack", {"token": None})
    world.ok(world.carol, "POST", f"/channels/{world.dm}/messages", {"content": SECRET})
    world.ok(world.carol, "POST", f"/channels/{world.dm}/typing")
    carol.send({"op": 3, "d": {"since": None, "activities": [], "status": "idle", "afk": False}})
    # Joining voice with op 4 also answers carol alone with VOICE_SERVER_UPDATE.
    carol.send({"op": 4, "d": {"guild_id": world.guild, "channel_id": world.voice, "self_mute": False, "self_deaf": False}})
    time.sleep(1)
    other = world.ok(alice, "POST", "/guilds", {"name": "Guild A2"}).body["id"]
    world.ok(alice, "DELETE", f"/guilds/{other}")
