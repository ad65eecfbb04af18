"""A local fake of Slack's Web API (and Socket Mode, and response_url) that records every call.

It binds 127.0.0.1 port 0 and answers the methods Rebound uses with the shapes Slack documents,
keeps the messages it was sent (so ``chat.update`` and ``conversations.history`` behave), checks
Block Kit against Slack's published limits, and can be told to fail the next call of a method
with a given error, HTTP status and headers (429 with ``Retry-After`` for rate limits). Point a
client at it with ``WebClient(base_url=fake.api_url)``.

``rate_limit(per_second)`` optionally adds a global limit like a platform's: a token bucket over
every Web API call (``burst`` calls at once, refilled at ``per_second``); a call without a token
gets HTTP 429, ``{"ok": false, "error": "ratelimited"}`` and ``Retry-After`` in whole seconds,
is kept in ``throttled`` rather than ``calls``, and changes nothing. Off unless asked for.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0001"
APP_ID = "A0001"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None = None  # the bearer token used: tests compare it, nothing prints it

    def json(self, key: str) -> Any:
        """An argument that carries JSON (blocks, view, files), whichever way it was sent."""
        return _json(self.args.get(key))


@dataclass
class Failure:
    error: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack:
    """Records calls in order; ``since(mark)`` returns what happened after a point."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}
        self.failures: dict[str, deque[Failure]] = {}
        self.problems: list[str] = []  # Block Kit limits broken by the app
        self.socket_acks: list[dict[str, Any]] = []
        self.teams: dict[str, str] = {}  # OAuth code -> team id for oauth.v2.access
        # user id -> profile for users.info ({"display_name": ..., "real_name": ...});
        # anyone in neither this nor ``admins`` is "user_not_found", as for a user Slack
        # doesn't know.
        self.profiles: dict[str, dict[str, str]] = {}
        self.admins: set[str] = set()  # user ids users.info reports as workspace admins
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._sockets: list[web.WebSocketResponse] = []
        self.socket_connected = asyncio.Event()
        self.socket_acked = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.throttled: list[Call] = []  # calls answered 429 by the rate limit
        self._bucket: _TokenBucket | None = None

    # ------------------------------------------------------------------ control

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.base}/response/{name}"

    def fail_next(self, method: str, error: str, status: int = 200, **headers: str) -> None:
        self.failures.setdefault(method, deque()).append(Failure(error, status, headers))

    def rate_limit(self, per_second: float, burst: float | None = None) -> None:
        """Answer 429 with ``Retry-After`` beyond ``per_second`` calls (all methods together)."""
        self._bucket = _TokenBucket(per_second, burst if burst is not None else per_second)

    def mark(self) -> int:
        return len(self.calls)

    def since(self, mark: int) -> list[Call]:
        with self._lock:
            return list(self.calls[mark:])

    def named(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # users.info and other reads are GETs
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{name}", self._response)
        app.router.add_get("/link", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def socket_send(self, envelope: dict[str, Any]) -> None:
        """Push a Socket Mode envelope to the connected app (``events_api``, ``interactive``...)."""
        await self.socket_connected.wait()
        await self._sockets[-1].send_str(json.dumps(envelope))

    # ------------------------------------------------------------------ handlers

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _read_args(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") or args.get("token")
        if self._bucket is not None:
            wait = self._bucket.take()
            if wait > 0:
                with self._lock:
                    self.throttled.append(Call(method, args, token))
                return web.json_response(
                    {"ok": False, "error": "ratelimited"},
                    status=429,
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
        with self._lock:
            self.calls.append(Call(method, args, token))
        queue = self.failures.get(method)
        if queue:
            failure = queue.popleft()
            return web.json_response(
                {"ok": False, "error": failure.error},
                status=failure.status,
                headers=failure.headers,
            )
        if method != "apps.connections.open" and not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        return web.json_response(self._answer(method, args))

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "team_id": TEAM,
                "user": "rebound",
                "team": "Example",
                "url": "https://example.slack.com/",
            }
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", ""))}}
        if method in ("chat.postMessage", "chat.update"):
            self._check_message(method, args)
            ts = args.get("ts") or f"{1700000000 + next(self._ts)}.000100"
            message = {
                "type": "message",
                "user": BOT_USER,
                "bot_id": BOT_ID,
                "ts": ts,
                "text": args.get("text", ""),
                "blocks": _blocks(args),
            }
            self.messages[(str(args.get("channel")), ts)] = message
            return {"ok": True, "channel": args.get("channel"), "ts": ts, "message": message}
        if method == "chat.delete":
            key = (str(args.get("channel")), str(args.get("ts")))
            if self.messages.pop(key, None) is None:
                return {"ok": False, "error": "message_not_found"}
            return {"ok": True, "channel": key[0], "ts": key[1]}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000200"}
        if method == "users.info":
            uid = str(args.get("user", ""))
            profile = self.profiles.get(uid)
            if profile is None and uid not in self.admins:
                return {"ok": False, "error": "user_not_found"}
            profile = profile or {}
            return {
                "ok": True,
                "user": {
                    "id": uid,
                    "team_id": TEAM,
                    "name": uid.lower(),
                    "real_name": profile.get("real_name", ""),
                    "is_bot": False,
                    "deleted": False,
                    "is_admin": uid in self.admins,
                    "is_owner": False,
                    "is_primary_owner": False,
                    "profile": {
                        "display_name": profile.get("display_name", ""),
                        "real_name": profile.get("real_name", ""),
                    },
                },
            }
        if method == "conversations.history":
            found = self.messages.get((str(args.get("channel")), str(args.get("latest"))))
            return {"ok": True, "messages": [found] if found else [], "has_more": False}
        if method in ("views.open", "views.publish"):
            view = _json(args.get("view"))
            self._check_view(method, view)
            return {"ok": True, "view": {**view, "id": f"V{next(self._ts)}"}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts)}"
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.base}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            files = _json(args.get("files"))
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link"}
        if method == "oauth.v2.access":
            team = self.teams.get(str(args.get("code")), "T_UNKNOWN")
            return {
                "ok": True,
                "app_id": APP_ID,
                "access_token": f"xoxb-{team}-installed",
                "token_type": "bot",
                "scope": "chat:write",
                "bot_user_id": BOT_USER,
                "team": {"id": team, "name": "Installed"},
                "enterprise": None,
                "is_enterprise_install": False,
                "authed_user": {"id": "UADMIN"},
            }
        return {"ok": False, "error": "unknown_method"}

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text="OK")

    async def _response(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.calls.append(Call("response_url", {"name": request.match_info["name"], **body}))
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self.socket_connected.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.socket_acks.append(json.loads(msg.data))
                self.socket_acked.set()
        self._sockets.remove(ws)
        return ws

    # ------------------------------------------------------------------ Slack's limits

    def _check_message(self, method: str, args: dict[str, Any]) -> None:
        blocks = _blocks(args)
        if len(blocks) > 50:
            self.problems.append(f"{method}: {len(blocks)} blocks (max 50)")
        if not args.get("text"):
            self.problems.append(f"{method}: no fallback text")
        self._check_blocks(method, blocks)

    def _check_view(self, method: str, view: dict[str, Any]) -> None:
        limit = 100
        if len(view.get("blocks", [])) > limit:
            self.problems.append(f"{method}: more than {limit} blocks")
        if len(view.get("title", {}).get("text", "")) > 24:
            self.problems.append(f"{method}: title longer than 24")
        if len(view.get("private_metadata", "")) > 3000:
            self.problems.append(f"{method}: private_metadata longer than 3000")
        self._check_blocks(method, view.get("blocks", []))

    def _check_blocks(self, method: str, blocks: list[dict[str, Any]]) -> None:
        block_ids = [b["block_id"] for b in blocks if "block_id" in b]
        if len(block_ids) != len(set(block_ids)):
            self.problems.append(f"{method}: duplicate block_id")
        for block in blocks:
            text = block.get("text", {}).get("text", "")
            if block.get("type") == "section" and not 0 < len(text) <= 3000:
                self.problems.append(f"{method}: section text of {len(text)} characters")
            if block.get("type") == "actions" and len(block.get("elements", [])) > 25:
                self.problems.append(f"{method}: more than 25 elements")
            interactive = [
                e
                for e in [*block.get("elements", []), block.get("element") or {}]
                if isinstance(e, dict) and "action_id" in e
            ]
            action_ids = [e["action_id"] for e in interactive]
            if len(action_ids) != len(set(action_ids)):
                self.problems.append(f"{method}: duplicate action_id in a block")
            for element in interactive:
                if len(element.get("text", {}).get("text", "")) > 75:
                    self.problems.append(f"{method}: button text over 75")
                if len(element.get("value", "")) > 2000:
                    self.problems.append(f"{method}: button value over 2000")
                for option in element.get("options", []):
                    if len(option.get("value", "")) > 150:
                        self.problems.append(f"{method}: option value over 150")


class _TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; ``take`` says how long to wait."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, max(burst, 1.0)
        self.tokens = self.burst
        self.at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when a token was taken; otherwise the seconds until one will be there."""
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


async def _read_args(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        data = await request.json()
        return dict(data) if isinstance(data, dict) else {}
    form = await request.post()
    args: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    args.update({k: v for k, v in request.query.items() if k not in args})
    return args


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else (value or {})


def _blocks(args: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_json(args.get("blocks")) or [])
