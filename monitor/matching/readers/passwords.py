"""Archive passwords to try: from the post that carries the file, the source config, and the
conventions of leak channels.

Leak channels lock their archives and print the password next to them ("pass: x",
"mot de passe : x", "🔑 x") or use the channel's own name or link. Passwords are tried in that
order; the part notes say which *origin* worked, never the password itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitor.matching.lazy_re import lazy
from monitor.telegram_links import channel_name


@dataclass(slots=True, frozen=True)
class Password:
    """One candidate password and where it came from (shown in notes and skip reasons)."""

    value: str
    origin: str


# "pass: x", "password = x", "pwd - x", "mdp : x", "mot de passe: x", "пароль: x", "🔑 x",
# "密码：x"; the value is the next token (quotes and trailing punctuation removed).
_WORD_LABEL = (r"(?:archive\s+)?pass(?:word|wd|phrase)?|pwd|pw|mdp|mot\s+de\s+passe|"
               r"пароль|passwort|contraseña|senha|密码")
_CAPTION = lazy(
    rf"(?i)(?:(?:^|(?<=[\s(\[|*_]))(?:{_WORD_LABEL})\s*(?:[:=：\-–—>]+\s*|\s+(?:is|est)\s+)"
    r"|[🔑🔐🗝]\ufe0f?\s*[:=：\-]?\s*)"
    r"[`'\"«“]?([^\s`'\"»”]{1,128})")
_TRAILING = ".,;)]*_"


def from_caption(text: str) -> list[str]:
    """Passwords announced in a post or caption, in order of appearance."""
    out: list[str] = []
    for m in _CAPTION.finditer(text):
        raw = m.group(1)
        for value in (raw, raw.rstrip(_TRAILING)):  # "pass: x." may mean "x" or "x."
            if value and value not in out:
                out.append(value)
    return out


def channel_conventions(channel: str | None) -> list[str]:
    """The shipped leak-channel conventions: the channel's @name, its bare name and t.me link."""
    name = channel_name(channel or "")
    if not name:
        return []
    return [f"@{name}", name, f"t.me/{name}", f"https://t.me/{name}", name.lower()]


def candidates(caption: str | None = None, configured: Iterable[str] = (),
               channel: str | None = None) -> tuple[Password, ...]:
    """Every password worth trying, deduplicated, caption first."""
    seen: set[str] = set()
    out: list[Password] = []
    for values, origin in ((from_caption(caption or ""), "the post's caption"),
                           (list(configured), "the source's archive_passwords"),
                           (channel_conventions(channel), "the channel-name convention")):
        for value in values:
            if value and value not in seen:
                seen.add(value)
                out.append(Password(value, origin))
    return tuple(out)
