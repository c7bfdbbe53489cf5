"""The shipped config.example.toml in a folder of its own, as a newcomer runs it: the config,
the shipped rules, and a planted secret already waiting in the drop folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SECRET = "export AWS_ACCESS_KEY_ID=AKIA454ML6LG4TJFCZ4K\n"


def example_config() -> str:
    return (REPO / "config.example.toml").read_text()


def prepare_example(folder: Path, config: str | None = None) -> dict[str, str]:
    """Write `config` (default: config.example.toml as shipped) to `folder/config.toml`, link
    the shipped rules, drop `inbox/deploy.env`; returns the environment to run leakmon in
    (without this machine's LEAKMON_/NOTIFY_ variables)."""
    (folder / "config.toml").write_text(example_config() if config is None else config)
    (folder / "rules").symlink_to(REPO / "rules")
    (folder / "inbox").mkdir()
    dropped = folder / "inbox" / "deploy.env"
    dropped.write_text(SECRET)
    old = time.time() - 60  # older than `settle`, so the first run takes it
    os.utime(dropped, (old, old))
    return {k: v for k, v in os.environ.items() if not k.startswith(("LEAKMON_", "NOTIFY_"))}
