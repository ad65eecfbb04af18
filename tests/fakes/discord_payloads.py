"""Discord's documented object shapes, as the fake Discord sends and answers them.

Built from the API reference (User, Channel, Message, Interaction, Guild Member, Application,
Application Command, the gateway's READY). discord.py's parsers read many of these keys without
a default, and a KeyError inside a gateway parser is only logged at DEBUG, so a shape missing a
key here would make the bot silently ignore the event.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]


def now() -> str:
    return datetime.now(UTC).isoformat()


def user(uid: str, name: str, bot: bool = False) -> Json:
    data: Json = {
        "id": uid,
        "username": name.lower(),
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
    }
    if bot:
        data["bot"] = True
    return data


def dm_channel(cid: str, recipient: Json) -> Json:
    return {"id": cid, "type": 1, "last_message_id": None, "flags": 0, "recipients": [recipient]}


def guild_text_channel(cid: str, guild_id: str) -> Json:
    return {
        "id": cid,
        "type": 0,
        "guild_id": guild_id,
        "name": "general",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }


def member(of: Json, permissions: str = "2248473465835073") -> Json:
    return {
        "user": of,
        "roles": [],
        "joined_at": now(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "permissions": permissions,
    }


def attachment(aid: str, sent: Json) -> Json:
    filename = str(sent.get("filename", "file"))
    return {
        "id": aid,
        "filename": filename,
        "description": sent.get("description"),
        "size": 1,
        "url": f"https://cdn.example/{filename}",
        "proxy_url": f"https://media.example/{filename}",
        "content_type": "image/png" if filename.endswith(".png") else "application/octet-stream",
    }


def message(
    snowflake: Callable[[], str], channel_id: str, author: Json, body: Json, flags: int = 0
) -> Json:
    """A message object as Discord answers it, from a create-message request body."""
    counter = itertools.count(1)
    return {
        "id": snowflake(),
        "channel_id": channel_id,
        "author": author,
        "content": body.get("content") or "",
        "timestamp": now(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [attachment(snowflake(), a) for a in body.get("attachments", [])],
        "embeds": [{"type": "rich", **e} for e in body.get("embeds") or []],
        "pinned": False,
        "type": 0,
        "flags": flags | int(body.get("flags") or 0),
        "components": [with_ids(c, counter) for c in body.get("components") or []],
    }


def interaction(
    iid: str,
    token: str,
    app_id: str,
    kind: int,
    person: Json,
    data: Json,
    channel: Json,
    guild_id: str | None = None,
    source: Json | None = None,
    permissions: str = "2248473465835073",
) -> Json:
    """INTERACTION_CREATE: in a guild (``member``) or in a DM (``user``)."""
    payload: Json = {
        "id": iid,
        "application_id": app_id,
        "type": kind,
        "data": data,
        "channel": channel,
        "channel_id": channel["id"],
        "token": token,
        "version": 1,
        "app_permissions": "0",
        "locale": "en-GB",
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if guild_id:
        payload |= {
            "guild_id": guild_id,
            "guild_locale": "en-US",
            "member": member(person, permissions),
            "authorizing_integration_owners": {"0": guild_id},
            "context": 0,
        }
    else:
        payload |= {"user": person, "authorizing_integration_owners": {"0": "0"}, "context": 1}
    if source is not None:
        payload["message"] = source
    return payload


def application(app_id: str, owner: Json) -> Json:
    return {
        "id": app_id,
        "name": "Rebound",
        "icon": None,
        "description": "",
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": owner,
        "verify_key": "0" * 64,
        "flags": 0,
        "team": None,
        "summary": "",
    }


def bot_user(bot: Json) -> Json:
    return {**bot, "verified": True, "mfa_enabled": False, "flags": 0}


def ready(bot: Json, app_id: str, session_id: str, resume_url: str) -> Json:
    return {
        "v": 10,
        "user": bot_user(bot),
        "guilds": [],
        "session_id": session_id,
        "resume_gateway_url": resume_url,
        "shard": [0, 1],
        "application": {"id": app_id, "flags": 0},
        "private_channels": [],
    }


def stored_command(cid: str, app_id: str, version: str, sent: Json, scope: str) -> Json:
    """An application command as Discord answers a bulk overwrite."""
    return {
        "id": cid,
        "application_id": app_id,
        "version": version,
        "type": 1,
        "default_member_permissions": None,
        "nsfw": False,
        **sent,
        **({"guild_id": scope} if scope != "global" else {}),
    }


def with_ids(component: Json, counter: itertools.count[int]) -> Json:
    """Discord numbers every component of a message; echo the request with those ids."""
    out = {**component, "id": next(counter)}
    if "components" in out:
        out["components"] = [with_ids(c, counter) for c in out["components"]]
    return out
