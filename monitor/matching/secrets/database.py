"""Database connection URLs that carry a password (postgres, mysql, mongodb+srv, redis, amqp)."""

from __future__ import annotations

import re

from monitor.matching.detector_base import Detector, text_of, trigger
from monitor.matching.hyperscan_db import CASELESS
from monitor.matching.lazy_re import lazy
from monitor.matching.secrets.placeholders import is_placeholder

_SCHEMES = rb"(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver)"
# What tutorials put there: the word itself, a variable, a mask.
_NOT_PASSWORDS = frozenset({"password", "passwd", "pass", "pwd", "secret", "changeme", "user",
                            "username", "mypassword", "yourpassword", "dbpassword", "db_password",
                            "admin", "root", "test", "postgres", "mysql", "guest", "redis"})
_EXAMPLE_HOSTS = lazy(r"(?i)(?:^|\.)(?:example\.(?:com|org|net)|host|hostname|your[-_]?host"
                            r"|server|db-host|dbhost)$")


def _validate(m: re.Match[bytes], region: str) -> str | None:
    password = text_of(m, "pw")
    host = text_of(m, "host")
    if (password.lower() in _NOT_PASSWORDS or is_placeholder(password, repeats=False)
            or password.startswith(("$", "%", "{", "<", "*")) or len(set(password)) < 3
            or _EXAMPLE_HOSTS.search(host)):
        return None
    return text_of(m).lower()


DETECTORS = (
    Detector(
        "database_url", "database URL with a password (postgres, mysql, mongodb+srv, redis, amqp…)",
        (trigger(_SCHEMES + rb"://[^\s/:@]{0,64}:[^\s/@]{3,128}@", CASELESS),),
        lazy(rb"(?i)(?<![a-z0-9+])" + _SCHEMES + rb"://(?P<user>[^\s:/@\"']{0,64}):"
                   rb"(?P<pw>[^\s@/\"']{3,128})@(?P<host>[a-z0-9](?:[a-z0-9.\-_]{0,253}))"),
        _validate, reach=220, after=260,
    ),
)
