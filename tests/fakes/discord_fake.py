"""A local fake Discord for contract tests: REST routes on aiohttp plus a gateway WebSocket.

The real discord.py client talks to it on 127.0.0.1 (``Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY`` point here). Payloads follow Discord's documented shapes
(message, interaction, application command, READY); a missing key would make discord.py's parser
drop the event silently, so tests always wait for proof that the bot's handler ran.

JSON answers carry exactly ``Content-Type: application/json``: discord.py parses nothing else.
Every REST request is recorded as a :class:`Call`; unknown routes answer 404 and are recorded
in ``unknown`` so a test can assert the bot used only real endpoints.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from . import discord_payloads as shapes

API = "/api/v10"
EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Interaction types and callback types (Discord docs, "Receiving and Responding").
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL = 4, 5, 6, 7, 9


@dataclass
class Call:
    method: str
    path: str  # below /api/v10
    body: Any = None  # JSON body, or payload_json of a multipart body
    files: list[tuple[str, bytes]] = field(default_factory=list)
    query: dict[str, str] = field(default_factory=dict)
    result: dict[str, Any] | None = None  # the message object answered, if one was created


@dataclass
class Pending:
    """What the fake remembers about an interaction it dispatched, to answer its callback."""

    id: str
    type: int
    channel_id: str
    message_id: str | None
    original_id: str | None = None


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


class FakeDiscord:
    """One application with one bot user, any number of people, DM channels and messages."""

    def __init__(self, token: str = "fake-bot-token") -> None:
        self.token = token
        self._ids = itertools.count(1_300_000_000_000_000_000)
        self.app_id = self.snowflake()
        self.bot = self.user(self.snowflake(), "Rebound", bot=True)
        self.calls: list[Call] = []
        self.unknown: list[Call] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self.dm_channels: dict[str, str] = {}  # user id -> DM channel id
        self.blocked: set[str] = set()  # people who do not accept DMs (error 50007)
        self.missing: set[str] = set()  # user ids Discord does not know (error 10013)
        self.rate_limit_next: int = 0  # answer this many message sends with a 429 first
        # ... with a 429 as Cloudflare sends it: no ``Via`` header, no rate-limit headers
        self.bare_429_next: int = 0
        self.dm_refused: set[str] = set()  # people for whom opening a DM fails (403, 50007)
        self.absent_guilds: set[str] = set()  # servers the bot is not in (403, 50001)
        self.managers: set[str] = set()  # people with Manage Server in every guild
        # each ended gateway session: the code of the client's close frame, None if it vanished
        self.gateway_closes: list[int | None] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> commands
        self.interactions: dict[str, Pending] = {}  # token -> pending interaction
        self.modals: dict[str, dict[str, Any]] = {}  # interaction token -> modal data
        self.identified = asyncio.Event()
        self.sent = asyncio.Event()  # set whenever the bot posts a message
        self.identifies = 0
        self._sockets: list[web.WebSocketResponse] = []
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway/", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway/"

    # ------------------------------------------------------------------ payloads

    def snowflake(self) -> str:
        return str(next(self._ids))

    @staticmethod
    def user(uid: str, name: str, bot: bool = False) -> dict[str, Any]:
        return shapes.user(uid, name, bot)

    def dm_channel(self, user: dict[str, Any]) -> dict[str, Any]:
        """The person's DM channel with the bot (one per person, as on Discord)."""
        return shapes.dm_channel(self.dm_channels.setdefault(user["id"], self.snowflake()), user)

    def message(
        self, channel_id: str, author: dict[str, Any], body: dict[str, Any], flags: int = 0
    ) -> dict[str, Any]:
        return shapes.message(self.snowflake, channel_id, author, body, flags)

    def message_create(self, author: dict[str, Any], content: str) -> dict[str, Any]:
        """MESSAGE_CREATE for a DM the person typed to the bot."""
        return self.message(self.dm_channel(author)["id"], author, {"content": content})

    def interaction(
        self,
        kind: int,
        user: dict[str, Any],
        data: dict[str, Any],
        *,
        guild_id: str | None = None,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """INTERACTION_CREATE from ``user``, remembered so its callback can be answered."""
        iid, token = self.snowflake(), f"itoken-{self.snowflake()}"
        if guild_id:
            channel = shapes.guild_text_channel(self.snowflake(), guild_id)
        else:
            channel = self.dm_channel(user)
        # Manage Server is 1 << 5; the default member permissions lack it.
        permissions = str(2248473465835073 | 32) if user["id"] in self.managers else None
        payload = shapes.interaction(
            iid, token, self.app_id, kind, user, data, channel, guild_id, message,
            **({"permissions": permissions} if permissions else {}),
        )  # fmt: skip
        self.interactions[token] = Pending(
            iid, kind, channel["id"], message["id"] if message else None
        )
        return payload

    # ------------------------------------------------------------------ gateway

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send one DISPATCH (op 0) to every connected client."""
        for ws in list(self._sockets):
            await self._send(ws, {"op": 0, "t": event, "d": data})

    async def _send(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        if payload.get("op") == 0:
            self._seq += 1
            payload["s"] = self._seq
        else:
            payload.setdefault("s", None)
            payload.setdefault("t", None)
        await ws.send_str(json.dumps(payload))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": 41250}})
        closed_with: int | None = None  # the code of the client's close frame; None: dropped
        try:
            while True:
                msg = await ws.receive()
                if msg.type is WSMsgType.CLOSE:
                    closed_with = int(msg.data)
                    break
                if msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                if frame["op"] == 1:  # heartbeat
                    await self._send(ws, {"op": 11})
                elif frame["op"] == 2:  # identify
                    if frame["d"].get("token") != self.token:
                        await ws.close(code=4004)
                        break
                    self._sockets.append(ws)
                    self.identifies += 1
                    session = f"session-{self.snowflake()}"
                    ready = shapes.ready(self.bot, self.app_id, session, self.gateway_url)
                    await self._send(ws, {"op": 0, "t": "READY", "d": ready})
                    self.identified.set()
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
                self.gateway_closes.append(closed_with)
        return ws

    # ------------------------------------------------------------------ REST

    async def _rest(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix(API)
        call = Call(request.method, path, query=dict(request.query))
        if request.content_type == "multipart/form-data":
            form = await request.post()
            for name, value in form.items():
                if name == "payload_json":
                    call.body = json.loads(str(value))
                elif hasattr(value, "file"):
                    call.files.append((value.filename, value.file.read()))
        elif request.can_read_body:
            call.body = await request.json()
        self.calls.append(call)
        parts = path.strip("/").split("/")
        if parts[0] in ("interactions", "webhooks"):
            return await self._webhook(call, parts)
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        route = (request.method, *parts)
        if route == ("GET", "users", "@me"):
            return _json(shapes.bot_user(self.bot))
        if route == ("GET", "oauth2", "applications", "@me"):
            owner = shapes.user(self.snowflake(), "Owner")
            return _json(shapes.application(self.app_id, owner))
        if route == ("POST", "users", "@me", "channels"):
            uid = str(call.body["recipient_id"])
            if uid in self.missing:
                return _error(404, 10013, "Unknown User")
            if uid in self.dm_refused:
                return _error(403, 50007, "Cannot send messages to this user")
            return _json(self.dm_channel(self.user(uid, f"user{uid[-4:]}")))
        if route[:2] == ("POST", "channels") and route[3:] == ("messages",):
            return self._create_message(route[2], call)
        if route[:2] == ("DELETE", "channels") and len(route) == 5 and route[3] == "messages":
            if self.messages.pop(route[4], None) is None:
                return _error(404, 10008, "Unknown Message")
            return web.Response(status=204)
        if route[:2] == ("PATCH", "channels") and len(route) == 5:
            return self._edit(route[4], call.body)
        if request.method == "PUT" and parts[0] == "applications" and parts[-1] == "commands":
            scope = parts[3] if len(parts) == 5 else "global"
            if scope in self.absent_guilds:
                return _error(403, 50001, "Missing Access")
            return _json(self._store_commands(scope, call.body))
        self.unknown.append(call)
        return _error(404, 0, "404: Not Found")

    def _create_message(self, channel_id: str, call: Call) -> web.Response:
        if self.bare_429_next > 0:
            self.bare_429_next -= 1
            return _json(
                {"message": "You are being rate limited.", "retry_after": 0.01, "global": False},
                status=429,
                headers={"Retry-After": "0"},
            )
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return _json(
                {"message": "You are being rate limited.", "retry_after": 0.01, "global": False},
                status=429,
                headers={
                    "Via": "1.1 google",
                    "Retry-After": "1",
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset-After": "0.01",
                    "X-RateLimit-Bucket": "fake-bucket",
                    "X-RateLimit-Scope": "user",
                },
            )
        recipient = next((u for u, c in self.dm_channels.items() if c == channel_id), None)
        if recipient in self.blocked:
            return _error(403, 50007, "Cannot send messages to this user")
        msg = self.message(channel_id, self.bot, call.body or {})
        self.messages[msg["id"]] = call.result = msg
        self.sent.set()
        return _json(msg)

    def _edit(self, message_id: str, body: dict[str, Any]) -> web.Response:
        msg = self.messages.get(message_id)
        if msg is None:
            return _error(404, 10008, "Unknown Message")
        counter = itertools.count(1)
        for key in ("content", "embeds"):
            if key in body:
                msg[key] = body[key] or ([] if key == "embeds" else "")
        if "components" in body:
            msg["components"] = [shapes.with_ids(c, counter) for c in body["components"] or []]
        msg["edited_timestamp"] = shapes.now()
        return _json(msg)

    async def _webhook(self, call: Call, parts: list[str]) -> web.Response:
        token = parts[2]
        pending = self.interactions.get(token)
        if pending is None:
            return _error(404, 10062, "Unknown interaction")
        if parts[0] == "interactions":  # POST /interactions/{id}/{token}/callback
            return self._callback(pending, token, call.body or {})
        if len(parts) == 3 and call.method == "POST":  # a follow-up message
            msg = self.message(pending.channel_id, self.bot, call.body or {})
            self.messages[msg["id"]] = call.result = msg
            return _json(msg)
        if pending.original_id is None:
            return _error(404, 10008, "Unknown Message")
        if call.method == "DELETE":
            self.messages.pop(pending.original_id, None)
            return web.Response(status=204)
        return self._edit(pending.original_id, call.body or {})

    def _callback(self, pending: Pending, token: str, body: dict[str, Any]) -> web.Response:
        kind, data = body["type"], body.get("data") or {}
        info: dict[str, Any] = {"id": pending.id, "type": pending.type}
        resource: dict[str, Any] | None = None
        if kind in (MESSAGE, DEFERRED_MESSAGE):
            flags = int(data.get("flags") or 0) | (LOADING if kind == DEFERRED_MESSAGE else 0)
            msg = self.message(pending.channel_id, self.bot, data, flags=flags)
            self.messages[msg["id"]] = msg
            pending.original_id = msg["id"]
            info.update(
                response_message_id=msg["id"],
                response_message_loading=kind == DEFERRED_MESSAGE,
                response_message_ephemeral=bool(flags & EPHEMERAL),
            )
            resource = {"type": kind, "message": msg}
        elif kind == UPDATE_MESSAGE and pending.message_id in self.messages:
            self._edit(pending.message_id, data)
            info["response_message_id"] = pending.message_id
            resource = {"type": kind, "message": self.messages[pending.message_id]}
        elif kind == MODAL:
            self.modals[token] = data
        out: dict[str, Any] = {"interaction": info}
        if resource is not None:
            out["resource"] = resource
        return _json(out)

    def _store_commands(self, scope: str, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.commands[scope] = [
            shapes.stored_command(self.snowflake(), self.app_id, self.snowflake(), cmd, scope)
            for cmd in body
        ]
        return self.commands[scope]
