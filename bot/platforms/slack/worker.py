"""The inbox worker: takes the turns of Slack requests the HTTP process acknowledged.

Each claimed request is dispatched through the same Bolt app and listeners as ever (as a
Socket Mode request: its signature was checked when it arrived, minutes ago perhaps, and would
now be too old to check again), with ``process_before_response`` so dispatch returns when the
listener is done; then the row is deleted. A worker killed before that leaves the row claimed;
when its lease runs out another worker takes it, and the engine's processed-event check makes
the second try answer once (see :mod:`bot.conversation.inbox`).

One person's requests run one after another in arrival order; different people's run side by
side (their Web API calls overlap). Typed messages waiting together are encoded in one batch
first (:meth:`Engine.prepare`), which costs far less than one forward pass each.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.conversation.engine import Engine
from bot.conversation.inbox import Inbox, Item, new_worker_id
from bot.platforms.slack import convert as render
from bot.platforms.slack.app import QUEUED, deferred, inbox_key

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05  # how often an idle worker in its own process looks for work
BATCH = 16


class SlackWorker:
    """Claims waiting Slack requests and answers them through ``app`` (built with
    ``process_before_response=True``)."""

    def __init__(
        self,
        app: AsyncApp,
        inbox: Inbox,
        engine: Engine,
        *,
        batch: int = BATCH,
        poll: float = POLL_SECONDS,
        worker_id: str | None = None,
    ) -> None:
        self.app = app
        self.inbox = inbox
        self.engine = engine
        self.batch = batch
        self.poll = poll
        self.id = worker_id or new_worker_id()
        self.wake = asyncio.Event()

    def notify(self) -> None:
        """Something was just put in the inbox (same process, same loop): look now."""
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; what was claimed and not finished is given back."""
        try:
            while not stop.is_set():
                try:
                    busy = await self.run_once()
                except Exception as exc:  # the database is away: wait and try again
                    log.warning("inbox worker could not claim (%s)", type(exc).__name__)
                    busy = False
                    await asyncio.sleep(1.0)
                if not busy:
                    self.wake.clear()
                    waiter = asyncio.ensure_future(self.wake.wait())
                    stopper = asyncio.ensure_future(stop.wait())
                    await asyncio.wait(
                        {waiter, stopper}, timeout=self.poll, return_when=asyncio.FIRST_COMPLETED
                    )
                    waiter.cancel()
                    stopper.cancel()
        finally:
            try:
                await asyncio.to_thread(self.inbox.release, self.id)
            except Exception as exc:
                log.warning("inbox worker could not give back its claims (%s)",
                            type(exc).__name__)  # fmt: skip

    async def run_once(self) -> bool:
        """Claim one batch and answer it; False when there was nothing waiting."""
        items = await asyncio.to_thread(self.inbox.claim, self.id, self.batch)
        if not items:
            return False
        bodies = [(item, _body(item)) for item in items]
        texts = [t for _, body in bodies if body is not None and (t := _typed(body))]
        if len(texts) > 1:
            await asyncio.to_thread(self.engine.prepare, texts)
        people: OrderedDict[str, list[tuple[Item, dict[str, Any] | None]]] = OrderedDict()
        for item, body in bodies:
            people.setdefault(_person(item.key, body), []).append((item, body))
        await asyncio.gather(*(self._in_order(queue) for queue in people.values()))
        return True

    async def _in_order(self, queue: list[tuple[Item, dict[str, Any] | None]]) -> None:
        for item, body in queue:
            if body is not None:
                found = deferred(body)
                context = {QUEUED: found[0]} if found and inbox_key(*found) == item.key else {}
                request = AsyncBoltRequest(body=body, mode="socket_mode", context=context)
                try:
                    response = await self.app.async_dispatch(request)
                except Exception:
                    log.exception("a queued Slack request failed")
                else:
                    if response.status >= 500 or response.status in (401, 403):
                        # Not answered (Bolt could not authorize: Slack or the token store
                        # away): leave it claimed, so it is tried again when the claim runs out
                        # (and dropped after MAX_ATTEMPTS), and keep this person's order.
                        log.warning("a queued Slack request was not answered (HTTP %s), "
                                    "will try again", response.status)  # fmt: skip
                        return
            await asyncio.to_thread(self.inbox.done, item.id, item.key)


def _body(item: Item) -> dict[str, Any] | None:
    try:
        body = json.loads(item.payload)
    except ValueError:
        log.error("dropped an unreadable inbox row")
        return None
    return body if isinstance(body, dict) else None


def _typed(body: dict[str, Any]) -> str | None:
    """The words of a typed DM or mention, as the engine will read them (for batching)."""
    event = body.get("event") or {}
    if body.get("type") != "event_callback" or event.get("subtype") or event.get("bot_id"):
        return None
    text = event.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    if event.get("type") == "app_mention":
        text = render.strip_mentions(text)
    elif event.get("type") != "message":
        return None
    return render.unescape(text)


def _person(key: str, body: dict[str, Any] | None) -> str:
    if body is None:
        return key
    user = (
        (body.get("event") or {}).get("user")
        or (body.get("user") or {}).get("id")
        or body.get("user_id")
    )
    return str(user) if user else key
