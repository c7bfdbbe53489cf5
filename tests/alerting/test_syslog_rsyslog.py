"""The syslog sink against a real rsyslogd on 127.0.0.1 (imtcp + imudp, RFC 5424 parser):
what rsyslog itself makes of our frames is what a SOC's relay will make of them."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from test_sinks_kinds import one_sink

from monitor.alerting.sinks.syslog_sink import SyslogSink
from tests.support.net import free_port
from tests.support.sinks import make_notification

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
pytestmark = pytest.mark.skipif(not Path(RSYSLOGD).exists(),
                                reason="rsyslogd not installed (.ci/run installs it)")
FIELDS = ("pri", "hostname", "app-name", "procid", "msgid", "structured-data", "msg")


class Rsyslog:
    """rsyslogd in the foreground, its own config, work directory and output file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tcp_port, self.udp_port = free_port(), free_port()
        self.out = folder / "received.log"
        props = ' constant(value="\\t") '.join(f'property(name="{f}")' for f in FIELDS)
        (folder / "rsyslog.conf").write_text(f"""
global(workDirectory="{folder}")
module(load="imtcp")
module(load="imudp")
input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}")
input(type="imudp" address="127.0.0.1" port="{self.udp_port}")
template(name="fields" type="list") {{ {props} constant(value="\\n") }}
*.* action(type="omfile" file="{self.out}" template="fields")
""")

    def __enter__(self) -> Rsyslog:
        self.proc = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(self.folder / "rsyslog.conf"),
             "-i", str(self.folder / "rsyslogd.pid")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:  # ready when imtcp accepts a connection
            try:
                socket.create_connection(("127.0.0.1", self.tcp_port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    out = self.proc.stdout.read().decode() if self.proc.stdout else ""
                    self.proc.kill()
                    raise AssertionError(f"rsyslogd did not start: {out}") from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def wait_for(self, count: int) -> list[dict[str, str]]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = self.out.read_text("utf-8").splitlines() if self.out.exists() else []
            if len(lines) >= count:
                return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in lines]
            time.sleep(0.05)
        raise AssertionError(f"rsyslogd wrote fewer than {count} line(s) to {self.out}")


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_rsyslog_parses_our_rfc5424_frames(tmp_path, protocol):
    with Rsyslog(tmp_path) as rx:
        port = rx.tcp_port if protocol == "tcp" else rx.udp_port
        sink = one_sink({"type": "syslog", "host": "127.0.0.1", "port": port,
                         "protocol": protocol, "hostname": "mon-1", "facility": "local3",
                         "enterprise_number": 52136})
        sink.send(make_notification(title="Données patients « fuite »"))
        (got,) = rx.wait_for(1)
    assert got["pri"] == str(19 * 8 + 2)
    assert (got["hostname"], got["app-name"], got["msgid"]) == ("mon-1", "leakmon", "new")
    assert got["structured-data"].startswith('[leakmon@52136 event="new" severity="critical"')
    assert 'records="153"' in got["structured-data"]
    # rsyslog's RFC 5424 parser leaves the BOM at the head of MSG; the UTF-8 text is intact
    assert got["msg"].removeprefix("\ufeff").startswith("CRITICAL Données patients « fuite »")
    assert got["msg"].startswith("\ufeff")


def test_documentation_enterprise_number_is_warned_about(caplog):
    one_sink({"type": "syslog", "host": "127.0.0.1", "port": 514})
    assert "reserved for documentation" in caplog.text
    caplog.clear()
    sink = one_sink({"type": "syslog", "host": "127.0.0.1", "port": 514,
                     "enterprise_number": 52136})
    assert isinstance(sink, SyslogSink) and sink.sd_id == "leakmon@52136"
    assert "reserved" not in caplog.text
