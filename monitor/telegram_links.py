"""Telegram link rules, in one place: which hosts are Telegram's link hosts, the ways a
channel is written (`@name`, `name`, `t.me/name`, `t.me/s/name/123`), what a public channel
username looks like, and the one spelling a suggested channel is stored under.

Collectors (reading a configured channel, picking channel links out of posts), the store
(suggested sources), matching (the channel-name password convention), alerting (all of
Telegram is one site) and the CLI all ask here, so a new link form is taught once.
"""

from __future__ import annotations

import re

# t.me is the canonical host; the others redirect to it.
HOSTS: tuple[str, ...] = ("t.me", "telegram.me", "telegram.dog")
CANONICAL_HOST = "t.me"

_HOST = r"(?:www\.)?(?:" + "|".join(re.escape(h) for h in HOSTS) + r")"
_LINK = re.compile(rf"^(?:https?://)?{_HOST}/(.+)$", re.IGNORECASE)
_PATH_NAME = re.compile(rf"^(?:https?://)?{_HOST}/(?:s/)?([^/?#]+)", re.IGNORECASE)
# a suggestion: a username or an invite hash ("+AbC123"), at least 4 characters
_SUGGESTION = re.compile(rf"^(?:https?://)?{_HOST}/(?:s/)?([A-Za-z0-9_+]{{4,64}})",
                         re.IGNORECASE)
_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,64}$")
# first path parts that are Telegram features, not channels
NOT_CHANNELS = frozenset({"joinchat", "share", "addstickers", "proxy", "iv"})


def is_telegram_link(link: str) -> bool:
    """`link` points into Telegram (a channel, a post, an invite)."""
    return bool(_LINK.match(link.strip()))


def channel_name(value: str) -> str:
    """The username in '@name', 'name', 't.me/s/name/123' or 'https://t.me/name/123';
    anything else comes back stripped as it was written."""
    value = value.strip().lstrip("@")
    m = _PATH_NAME.match(value)
    return m.group(1).lstrip("@") if m else value.rstrip("/")


def is_username(name: str) -> bool:
    """A public channel username: a letter, then letters, digits or _ (5 to 65 in all)."""
    return bool(_USERNAME.match(name))


def suggestion_link(link: str) -> str | None:
    """`https://t.me/s/Name/12?x` -> `https://t.me/name`; None when not a channel link.

    Lower-cased: Telegram usernames are case-insensitive, so `LeakBase` and `leakbase` are one.
    """
    m = _SUGGESTION.match(link.strip())
    if not m or m.group(1).lower() in NOT_CHANNELS:
        return None
    return f"https://{CANONICAL_HOST}/{m.group(1).lower()}"


def site_host(host: str) -> str:
    """A URL host as a site: every Telegram link host is `t.me`."""
    host = host.lower().removeprefix("www.")
    return CANONICAL_HOST if host in HOSTS else host
