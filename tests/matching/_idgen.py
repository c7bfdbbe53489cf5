"""Valid (and deliberately broken) identifiers for tests, built with python-stdnum."""

from __future__ import annotations

import random

from stdnum import iban, luhn
from stdnum.fr import nir


def nirs(n: int, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        dept = rnd.choice(["75", "69", "13", "2A", "2B", "59", "33"])
        body = (f"{rnd.choice('12')}{rnd.randint(40, 99):02d}{rnd.randint(1, 12):02d}{dept}"
                f"{rnd.randint(1, 999):03d}{rnd.randint(1, 999):03d}")
        value = body + nir.calc_check_digits(body)
        if value not in out:
            out.append(value)
    return out


def ibans(n: int, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        bban = f"{rnd.randint(10000, 39999)}{rnd.randint(10000, 99999)}{rnd.randint(10**10, 10**11 - 1)}{rnd.randint(10, 99)}"
        value = "FR" + iban.calc_check_digits("FR00" + bban) + bban
        if iban.is_valid(value) and value not in out:
            out.append(value)
    return out


def cards(n: int, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        prefix = rnd.choice(["4", "51", "53", "55"])
        body = prefix + "".join(rnd.choice("0123456789") for _ in range(15 - len(prefix)))
        value = body + luhn.calc_check_digit(body)
        if value not in out:
            out.append(value)
    return out


def broken(value: str) -> str:
    """Same shape, last digit changed: the checksum no longer holds."""
    return value[:-1] + str((int(value[-1]) + 1) % 10)


def spaced(value: str, group: int = 4) -> str:
    return " ".join(value[i:i + group] for i in range(0, len(value), group))


def spaced_nir(v: str) -> str:
    return f"{v[0]} {v[1:3]} {v[3:5]} {v[5:7]} {v[7:10]} {v[10:13]} {v[13:]}"
