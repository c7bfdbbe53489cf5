"""How an alert reads, for every sink: one place so that e-mail, chat, syslog and TheHive say
the same thing (and none of them can forget to leave record values out — they only have ids).

Severity scales of the receivers are mapped here too.
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import UTC, datetime

from monitor.models import Notification

# Elastic's detection-rule convention (risk score per severity), used for ECS event.severity.
ECS_SEVERITY = {"info": 1, "low": 21, "medium": 47, "high": 73, "critical": 99}
# CEF: 0-3 low, 4-6 medium, 7-8 high, 9-10 very high.
CEF_SEVERITY = {"info": 1, "low": 3, "medium": 5, "high": 8, "critical": 10}
# TheHive 5: 1 low, 2 medium, 3 high, 4 critical (thehive4py 2.x: `severity: int`, the UI
# knows only these four). Info has no level of its own there: it is sent as 1 (LOW) and told
# apart by the `severity:info` tag the TheHive sink adds (see docs/sinks.md).
THEHIVE_SEVERITY = {"info": 1, "low": 1, "medium": 2, "high": 3, "critical": 4}
# RFC 5424 severities: 2 critical, 3 error, 4 warning, 5 notice, 6 informational.
SYSLOG_SEVERITY = {"info": 6, "low": 5, "medium": 4, "high": 3, "critical": 2}

EXCERPT_MAX = 1000  # characters of the (already redacted) excerpt shown in a message
RECORD_IDS_MAX = 20  # record ids listed in a message; the rest are counted
DIGEST_MAX_LINES = 50


def severity_value(table: dict[str, int], severity: str) -> int:
    """A receiver's number for `severity`; unknown names map to the scale's middle."""
    return table.get(severity, table["medium"])


def epoch_ms(iso: str | None) -> str | None:
    """Milliseconds since the epoch for an ISO 8601 time (naive = UTC); None if absent/bad."""
    if not iso:
        return None
    try:
        when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return str(int(when.timestamp() * 1000))


def subject(n: Notification) -> str:
    """The one-line title of a message: severity, what happened, the incident title."""
    if n.event == "test":
        return n.title
    tag = {"escalated": " (escalated)", "operator": " (operator)"}.get(n.event, "")
    return f"[leakmon] {n.severity.upper()}{tag}: {n.title}"


def record_ids_text(n: Notification, limit: int = RECORD_IDS_MAX) -> str:
    """'153 (ids: p-1, p-2, … and 133 more)': ids only, never values."""
    if not n.record_count and not n.record_ids:
        return "0"
    shown = n.record_ids[:limit]
    more = max(n.record_count, len(n.record_ids)) - len(shown)
    ids = ", ".join(shown)
    if more > 0:
        ids = f"{ids}, … and {more} more" if ids else f"{more} not listed"
    return f"{n.record_count} (ids: {ids})"


def excerpt_text(n: Notification, limit: int = EXCERPT_MAX) -> str:
    text = (n.excerpt or "").strip()
    return text if len(text) <= limit else text[:limit] + " […]"


def fields(n: Notification) -> list[tuple[str, str]]:
    """The alert's facts as (label, value) pairs, in reading order; empty values are left out."""
    where = " / ".join(x for x in (n.platform, n.source) if x)
    sightings = str(n.sightings)
    if n.sites:
        sightings += f" on {len(n.sites)} site(s): {', '.join(n.sites)}"
    pairs = [
        ("Event", f"{n.event}: {n.reason}" if n.reason else n.event),
        ("Severity", n.severity),
        ("Confidence", f"{round(n.confidence * 100)}%"),
        ("Rule", f"{n.rule_id} ({n.rule_title})" if n.rule_title else n.rule_id),
        ("Source", where),
        ("URL", n.url or ""),
        ("First seen", n.first_seen or ""),
        ("Last seen", n.last_seen or ""),
        ("Sightings", sightings),
        ("Records matched", record_ids_text(n) if (n.record_count or n.record_ids) else ""),
        ("Canary", "YES — a planted canary record was found" if n.canary else ""),
        ("Tags", ", ".join(n.tags)),
        ("Incident", n.dedup_key),
        ("Open", n.link),
        ("Console", n.console_url or ""),
    ]
    return [(k, v) for k, v in pairs if v]


def body_text(n: Notification) -> str:
    """A plain-text message body (e-mail, chat, syslog MSG)."""
    lines = [f"{label}: {value}" for label, value in fields(n)]
    excerpt = excerpt_text(n)
    if excerpt:
        lines += ["", "Excerpt (redacted):", excerpt]
    return "\n".join(lines)


def what_happened(n: Notification) -> str:
    """One sentence for the top of a mail or chat message: the event, how many records, where."""
    what = {"new": "New incident", "escalated": "Incident escalated",
            "operator": "leakmon needs attention", "test": "Test message"}.get(n.event, n.event)
    if n.reason and n.event not in ("new", "test"):
        what += f" ({n.reason})"
    facts = []
    if n.record_count:
        facts.append(f"{n.record_count} of our record(s)")
    where = ", ".join(n.sites) or " / ".join(x for x in (n.platform, n.source) if x)
    if where:
        facts.append(f"seen {n.sightings} time(s) on {where}")
    return f"{what} — {', '.join(facts)}." if facts else f"{what}."


def chat_text(n: Notification) -> str:
    """The short plain-text body of a mail or chat message: what happened, the key facts,
    where to open it; the redacted excerpt last. Line breaks are meant to stay."""
    keep = ("Severity", "Rule", "Source", "URL", "Records matched", "Canary", "Open", "Console")
    lines = [what_happened(n), ""]
    lines += [f"{label}: {value}" for label, value in fields(n) if label in keep]
    excerpt = excerpt_text(n, 300)
    if excerpt:
        lines += ["", "Excerpt (redacted):", excerpt]
    return "\n".join(lines)


def chat_html(n: Notification) -> str:
    """The same message as `chat_text`, in HTML (the HTML part of an e-mail; Apprise derives
    the plain-text part and chat formats from it): every value is escaped; the console URL is
    the only link."""
    keep = ("Severity", "Rule", "Source", "URL", "Records matched", "Canary", "Open", "Console")
    lines = []
    for label, value in fields(n):
        if label not in keep:
            continue
        shown = html.escape(value)
        if label == "Console" and value.startswith(("https://", "http://")):
            shown = f'<a href="{html.escape(value, quote=True)}">{shown}</a>'
        lines.append(f"<b>{html.escape(label)}:</b> {shown}")
    parts = [f"<p>{html.escape(what_happened(n))}</p>", "<p>" + "<br/>".join(lines) + "</p>"]
    excerpt = excerpt_text(n, 300)
    if excerpt:
        parts += ["<p>Excerpt (redacted):</p>", f"<pre>{html.escape(excerpt)}</pre>"]
    return "\n".join(parts)


def body_markdown(n: Notification) -> str:
    """A Markdown body (TheHive descriptions)."""
    lines = [f"**{label}**: {_md(value)}  " for label, value in fields(n)]
    excerpt = excerpt_text(n)
    if excerpt:
        lines += ["", "**Excerpt (redacted)**:", "", "```", excerpt.replace("```", "'''"), "```"]
    return "\n".join(lines)


def summary(n: Notification) -> str:
    """One line for logs, digests and webhook `text`: severity, title, scale, link."""
    bits = [f"{n.severity.upper()} {n.title}"]
    if n.record_count:
        bits.append(f"{n.record_count} record(s)")
    if n.sightings > 1:
        bits.append(f"{n.sightings} sightings")
    if n.canary:
        bits.append("CANARY")
    if n.console_url or n.link:
        bits.append(n.console_url or n.link)
    return " — ".join(bits)


def digest_subject(notifications: list[Notification]) -> str:
    counts = Counter(n.severity for n in notifications)
    worst = max(notifications, key=lambda n: ECS_SEVERITY.get(n.severity, 0)).severity
    spread = ", ".join(f"{c} {s}" for s, c in sorted(
        counts.items(), key=lambda kv: -ECS_SEVERITY.get(kv[0], 0)))
    return f"[leakmon] digest: {len(notifications)} alert(s), worst {worst.upper()} ({spread})"


def digest_body(notifications: list[Notification]) -> str:
    """One line per event, the most severe first; the details are one `leakmon alerts show`
    away."""
    ordered = sorted(notifications, key=lambda n: (-ECS_SEVERITY.get(n.severity, 0), n.created_at))
    lines = [f"- [{n.event}] {summary(n)}" for n in ordered[:DIGEST_MAX_LINES]]
    if len(ordered) > DIGEST_MAX_LINES:
        lines.append(f"- … and {len(ordered) - DIGEST_MAX_LINES} more (leakmon alerts list)")
    return "\n".join(lines)


def _md(value: str) -> str:
    for ch in ("\\", "*", "_", "`", "[", "]"):
        value = value.replace(ch, "\\" + ch)
    return value
