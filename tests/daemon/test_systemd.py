from __future__ import annotations

import os
import socket
import uuid

import pytest

from monitor.daemon.systemd import SystemdNotifier


def _receiver(address):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


def _fields(data: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in data.decode().splitlines())


def test_notify_over_a_path_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    with _receiver(path) as rx:
        n = SystemdNotifier({"NOTIFY_SOCKET": path})
        assert n.enabled
        assert n.ready("2 sources,\nready")
        msg = _fields(rx.recv(4096))
        assert msg["READY"] == "1" and msg["MAINPID"] == str(os.getpid())
        assert msg["STATUS"] == "2 sources, ready"  # one line, newline folded
        n.status("3 documents")
        assert _fields(rx.recv(4096)) == {"STATUS": "3 documents"}
        n.watchdog()
        assert _fields(rx.recv(4096)) == {"WATCHDOG": "1"}
        n.reloading()
        msg = _fields(rx.recv(4096))
        assert msg["RELOADING"] == "1" and int(msg["MONOTONIC_USEC"]) > 0
        n.stopping()
        assert _fields(rx.recv(4096))["STOPPING"] == "1"
        n.close()


def test_notify_over_an_abstract_socket():
    name = f"leakmon-test-{uuid.uuid4().hex}"
    with _receiver(b"\0" + name.encode()) as rx:
        n = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        assert n.ready("ok")
        assert _fields(rx.recv(4096))["READY"] == "1"
        n.close()


def test_without_notify_socket_everything_is_a_noop():
    n = SystemdNotifier({})
    assert not n.enabled
    assert n.ready("x") is False and n.watchdog() is False
    assert n.watchdog_interval is None


@pytest.mark.parametrize(("env", "interval"), [
    ({"WATCHDOG_USEC": "20000000"}, 10.0),
    ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}, 10.0),
    ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "junk"}, None),
    ({"WATCHDOG_USEC": "0"}, None),
])
def test_watchdog_interval_is_half_of_watchdog_usec(env, interval):
    assert SystemdNotifier(env).watchdog_interval == interval


def test_a_vanished_socket_is_reported_not_raised(tmp_path, caplog):
    n = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert n.ready("x") is False
    assert "systemd notify" in caplog.text
