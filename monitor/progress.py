"""A small progress bar on stderr for long-running commands (scan, fingerprint import).

It only draws when the stream is a terminal and the job is big enough to be worth watching,
so pipes, log files, cron mails and `--json` consumers never see it. It never writes to
stdout: command output stays machine-readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_REDRAW_SECONDS = 0.1  # at most ten redraws per second, whatever the call rate


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


class Progress:
    """`with Progress(total, label="scanning") as bar: bar.advance(n, item="file.csv")`.

    `total` is in `unit`s ("bytes" draws sizes and a rate, anything else draws counts);
    `None` draws a counter without percentage. `min_total` is the size below which no bar
    is drawn at all. `enabled` forces drawing on or off (tests); by default it follows
    `stream.isatty()`.
    """

    def __init__(self, total: int | None, *, label: str = "", unit: str = "bytes",
                 stream: TextIO | None = None, enabled: bool | None = None,
                 min_total: int = 0, width: int = 24) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = total
        self.label = label
        self.unit = unit
        self.width = width
        self.done = 0
        self.item = ""
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty()) and (total is None or total >= min_total)
        self.enabled = enabled
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._drawn_width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def advance(self, n: int = 1, *, item: str | None = None) -> None:
        """Count `n` more units done; redraws at most every 0.1 s."""
        self.done += n
        if item is not None:
            self.item = item
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw >= _REDRAW_SECONDS or (
                self.total is not None and self.done >= self.total):
            self._last_draw = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The text of the bar as it would be drawn now."""
        now = time.monotonic() if now is None else now
        elapsed = max(now - self._started, 1e-9)
        parts = [self.label] if self.label else []
        if self.total:
            frac = min(self.done / self.total, 1.0)
            filled = int(frac * self.width)
            parts.append(f"{frac * 100:3.0f}% [{'#' * filled}{'.' * (self.width - filled)}]")
        if self.unit == "bytes":
            sizes = _human(self.done) + (f"/{_human(self.total)}" if self.total else "")
            parts.append(f"{sizes}  {_human(self.done / elapsed)}/s")
        else:
            parts.append(f"{self.done:,}" + (f"/{self.total:,}" if self.total else "")
                         + f" {self.unit}  {self.done / elapsed:,.0f} {self.unit}/s")
        if self.item:
            item = self.item if len(self.item) <= 40 else "..." + self.item[-37:]
            parts.append(item)
        return "  ".join(parts)

    def _draw(self, now: float) -> None:
        text = self.line(now)
        pad = max(0, self._drawn_width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._drawn_width = len(text)

    def close(self) -> None:
        """Erase the bar so that following messages start on a clean line."""
        if self.enabled and self._drawn_width:
            self.stream.write("\r" + " " * self._drawn_width + "\r")
            self.stream.flush()
            self._drawn_width = 0
