"""systemd `Type=notify` support with the stdlib only (no python-systemd dependency).

The protocol is one AF_UNIX datagram of `KEY=VALUE` lines to the socket named in
`$NOTIFY_SOCKET`; a name starting with `@` is a Linux abstract socket (leading NUL byte).
Outside systemd the variable is unset and every call is a cheap no-op, so the daemon code
never needs to ask "am I under systemd?".
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends sd_notify messages: READY, STATUS, WATCHDOG, STOPPING, RELOADING."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self.address: str | bytes | None = None
        if raw.startswith("@"):
            self.address = b"\0" + raw[1:].encode()
        elif raw.startswith("/"):
            self.address = raw
        self.watchdog_usec = _watchdog_usec(env)
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings: half of WatchdogSec, None when it is off."""
        return self.watchdog_usec / 2_000_000 if self.watchdog_usec else None

    def notify(self, **fields: str | int) -> bool:
        """Send one message; False (logged once per failure) when the socket is unusable."""
        if self.address is None:
            return False
        message = "\n".join(f"{k.upper()}={_one_line(str(v))}" for k, v in fields.items())
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), self.address)
            return True
        except OSError as e:
            log.warning("systemd notify to %s failed: %s", _printable(self.address), e.strerror or e)
            return False

    def ready(self, status: str) -> bool:
        return self.notify(ready=1, status=status, mainpid=os.getpid())

    def status(self, text: str) -> bool:
        return self.notify(status=text)

    def watchdog(self) -> bool:
        return self.notify(watchdog=1)

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) pair it with the READY=1 after.
        return self.notify(reloading=1, monotonic_usec=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)

    def stopping(self) -> bool:
        return self.notify(stopping=1, status="stopping")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_usec(env: dict[str, str] | os._Environ[str]) -> int | None:
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (e.g. our parent)
    return usec if usec > 0 else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _printable(address: str | bytes) -> str:
    return "@" + address[1:].decode(errors="replace") if isinstance(address, bytes) else address
