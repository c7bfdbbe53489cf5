"""The compiled part of leakmon: fingerprint candidate reading and HMAC (see _native.c).

Everything else is in pyproject.toml; setuptools needs this file only to declare the C
extension. It builds with the C compiler and Python headers of the machine (gcc and
python3-dev), with no other library.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "monitor.matching._native",
            sources=["monitor/matching/_native.c"],
            depends=["monitor/matching/_sha256.h"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
        )
    ],
)
