"""The compiled part of leakmon: one C extension, monitor.matching._native, one C file per unit
(HMAC, candidate reader, table lookup, triggers, UTF-8 validation, redaction; see native/native.h).

Everything else is in pyproject.toml; setuptools needs this file only to declare the C
extension. It builds with the C compiler and Python headers of the machine (gcc and
python3-dev), with no other library.
"""

from pathlib import Path

from setuptools import Extension, setup

NATIVE = Path("monitor/matching/native")

setup(
    ext_modules=[
        Extension(
            "monitor.matching._native",
            sources=sorted(str(p) for p in NATIVE.glob("*.c")),
            depends=sorted(str(p) for p in NATIVE.glob("*.h")),
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers",
                                "-fvisibility=hidden"],
        )
    ],
)
