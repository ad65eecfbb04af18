"""``rebound slack``: run the Bolt app in Socket Mode (default) or HTTP mode, or print the manifest.

Socket Mode needs no public URL (the usual case for a careers office behind a firewall): the app
dials out to Slack with the app-level token. HTTP mode (``--http``) serves Slack's requests with
uvicorn, checks each signature with the signing secret, and answers ``GET /healthz``; put it
behind TLS. Both run the same app from :func:`bot.platforms.slack.build_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from pathlib import Path
from typing import Any

import click

from bot import log_privacy
from bot.config import Settings
from bot.log_privacy import RedactTokens  # noqa: F401  (re-exported)
from bot.platforms import composition

log = logging.getLogger(__name__)

MANIFEST = Path(__file__).resolve().parents[3] / "slack" / "manifest.yml"


def redact_tokens() -> None:
    """Tokens and people's words out of every log line (see :mod:`bot.log_privacy`)."""
    log_privacy.install()


def http_server(asgi: Any, host: str, port: int) -> Any:
    """A uvicorn server (production-grade, async). No access log: OAuth redirects carry one-time
    codes in the query string. ``server.should_exit = True`` stops it gracefully."""
    import uvicorn

    config = uvicorn.Config(
        asgi, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    return uvicorn.Server(config)


async def serve_http(asgi: Any, host: str, port: int, sock: socket.socket | None = None) -> None:
    """Serve ``asgi`` on ``host:port``, or on an already bound socket (tests bind port 0)."""
    await http_server(asgi, host, port).serve(sockets=[sock] if sock else None)


def socket_handler(app: Any, app_token: str) -> Any:
    """Bolt's aiohttp Socket Mode handler; it asks ``apps.connections.open`` on the app's client,
    so the configured API URL applies to the WebSocket address too."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    return AsyncSocketModeHandler(app, app_token)


async def serve_socket(app: Any, app_token: str, health_port: int | None, host: str) -> None:
    from bot.platforms.slack.app import HEALTH_PATH

    handler = socket_handler(app, app_token)
    await handler.connect_async()
    log.warning("Rebound is connected to Slack (Socket Mode)")
    if health_port is None:
        await asyncio.Event().wait()
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def health(_request: Request) -> JSONResponse:
        ok = await handler.client.is_connected()
        return JSONResponse({"ok": ok}, status_code=200 if ok else 503)

    asgi = Starlette(routes=[Route(HEALTH_PATH, health, methods=["GET"])])
    await serve_http(asgi, host, health_port)


def lower_priority() -> None:
    """Workers yield the CPU to the process that acknowledges (nice 10: at 200 events/s on two
    cores the ack p99 was 39-45 ms against 58-60 ms at nice 5, with the same drain time), where
    the OS allows,
    and run the encoder's matrix products on one BLAS thread each (unless told otherwise): a
    worker per core is the deployment, and a second BLAS thread per worker only spins,
    waiting for a core that another worker holds. Call before numpy is imported."""
    with contextlib.suppress(OSError):
        os.nice(10)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def _require(settings: Settings, *names: str) -> None:
    missing = [n for n in names if not getattr(settings.slack, n)]
    if missing:
        raise click.ClickException(
            "missing setting: "
            + ", ".join(f"slack.{n} (or REBOUND_SLACK__{n.upper()})" for n in missing)
        )


async def serve_http_inbox(
    built: Any, settings: Settings, host: str, port: int, *, worker: bool,
    sock: socket.socket | None = None, on_handled: Any = None,
) -> None:
    """HTTP mode with the durable inbox: verify, queue, acknowledge; the turns run in the
    inbox worker (here too unless ``worker`` is false: then ``rebound slack worker``
    processes take them, see docs/performance.md)."""
    from bot.conversation.inbox import Inbox
    from bot.platforms.slack.app import build_app, http_app
    from bot.platforms.slack.worker import SlackWorker

    inbox = Inbox(built.db)
    secret = settings.slack.signing_secret
    assert secret is not None
    front = build_app(built.engine, settings, on_handled, installations=built.db.engine)
    stop = asyncio.Event()
    tasks = []
    notify = None
    if worker:
        back = build_app(
            built.engine, settings, on_handled, installations=built.db.engine,
            process_before_response=True,
        )  # fmt: skip
        # Woken by each new row; the poll only finds rows a crashed earlier process left.
        runner = SlackWorker(back, inbox, built.engine, poll=1.0)
        notify = runner.notify
        tasks.append(asyncio.ensure_future(runner.run(stop)))
    asgi = http_app(front, secret.get_secret_value(), inbox=inbox, on_put=notify)
    try:
        await http_server(asgi, host, port).serve(sockets=[sock] if sock else None)
    finally:
        stop.set()
        for task in tasks:
            await task


async def run_worker(built: Any, settings: Settings, claim_seconds: float) -> None:
    """Take the turns of queued Slack requests until SIGTERM or SIGINT."""
    import signal
    from datetime import timedelta

    from bot.conversation.inbox import Inbox
    from bot.platforms.slack.app import build_app
    from bot.platforms.slack.worker import SlackWorker

    back = build_app(
        built.engine, settings, installations=built.db.engine, process_before_response=True
    )
    worker = SlackWorker(back, Inbox(built.db, ttl=timedelta(seconds=claim_seconds)), built.engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.warning("Rebound Slack worker %s is taking queued turns", worker.id.split()[0])
    await worker.run(stop)


@click.group("slack", invoke_without_command=True)
@click.option("--http", "http_mode", is_flag=True, help="Serve HTTP instead of Socket Mode.")
@click.option("--port", type=int, help="HTTP port (default: slack.http_port).")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--db", "db_url", help="Database URL (default: the configured one).")
@click.option(
    "--worker/--no-worker",
    default=True,
    show_default=True,
    help="HTTP mode: take the queued turns in this process too (--no-worker: only verify, "
    "queue and acknowledge; run `rebound slack worker` processes beside it).",
)
@click.pass_context
def slack(
    ctx: click.Context,
    http_mode: bool,
    port: int | None,
    host: str,
    db_url: str | None,
    worker: bool,
) -> None:
    """Run Rebound on Slack (Socket Mode unless --http)."""
    if ctx.invoked_subcommand is not None:
        return
    from bot.platforms.slack.app import build_app

    settings = composition(ctx).settings()
    redact_tokens()
    _require(settings, "client_id" if settings.slack.client_id else "bot_token")
    if settings.slack.client_id:
        _require(settings, "client_secret")
    _require(settings, "signing_secret" if http_mode else "app_token")
    built = composition(ctx).build(db_url)
    try:
        app = build_app(built.engine, settings, installations=built.db.engine)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if http_mode:
        port = port or settings.slack.http_port
        click.echo(f"Rebound on Slack: HTTP on {host}:{port} (POST /slack/events, GET /healthz)")
        del app  # HTTP mode builds its own: one to acknowledge, one for the worker
        asyncio.run(serve_http_inbox(built, settings, host, port, worker=worker))
    else:
        token = settings.slack.app_token
        assert token is not None
        asyncio.run(
            serve_socket(app, token.get_secret_value(), settings.slack.socket_health_port, host)
        )


@slack.command("worker")
@click.option("--db", "db_url", help="Database URL (default: the configured one).")
@click.option(
    "--claim-seconds",
    type=click.FloatRange(1, 600),
    default=20.0,
    show_default=True,
    help="How long a claimed request stays this worker's before another may take it.",
)
@click.pass_context
def worker_command(ctx: click.Context, db_url: str | None, claim_seconds: float) -> None:
    """Take the turns of Slack requests queued by `rebound slack --http --no-worker`."""
    lower_priority()  # before the encoder (numpy) loads
    settings = composition(ctx).settings()
    redact_tokens()
    _require(settings, "client_id" if settings.slack.client_id else "bot_token")
    built = composition(ctx).build(db_url)
    asyncio.run(run_worker(built, settings, claim_seconds))


@slack.command("manifest")
def manifest() -> None:
    """Print the Slack app manifest (paste it into "Create New App" > "From a manifest")."""
    click.echo(MANIFEST.read_text(encoding="utf-8"), nl=False)
