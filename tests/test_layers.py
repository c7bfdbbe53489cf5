"""Imports inside `monitor/` only run down the layers (docs/internals.md, "Layers").

Every `import` and `from ... import` is read from the source, lazy ones inside functions
too, so an upward arrow is caught even when it would only run on some code path.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "monitor"

# Bottom first. A module may import its own unit and units of lower layers; units that
# share a layer are siblings and know nothing of each other (collectors know nothing of
# rules, the store nothing of either).
LAYERS: list[set[str]] = [
    {"monitor", "errors"},
    {"models", "paths", "log", "net", "progress", "tables", "telegram_links"},
    {"config"},
    {"matching", "collectors", "store"},
    {"alerting", "filescan"},
    {"pipeline"},
    {"daemon"},
    {"web"},
    {"cli"},
    {"__main__"},
]

# Known upward arrows, each with the reason it is allowed (none today: the daemon hosts the
# console through the `console` starter `leakmon run` hands it, not by importing the web layer).
ALLOWED: dict[tuple[str, str], str] = {}

RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def unit_of(module: str) -> str:
    """`monitor.store.db` -> "store"; `monitor` -> "monitor"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str, root: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import in `path` (a file under the package folder
    `root`) that names a `monitor` module."""
    is_package = path.name == "__init__.py"
    out: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # a private name (`from monitor.store.incidents import _incident`) counts as a
            # private module for the rule below
            targets = [target] + [f"{target}.{a.name}" for a in node.names
                                  if a.name.startswith("_") and not a.name.startswith("__")]
            if target == "monitor":  # `from monitor import store` imports the unit store
                targets = [f"monitor.{a.name}" if (root / a.name).is_dir()
                           or (root / f"{a.name}.py").is_file() else target
                           for a in node.names]
        else:
            continue
        out += [(t, node.lineno) for t in targets if t == "monitor" or t.startswith("monitor.")]
    return out


def upward_imports(root: Path) -> list[str]:
    """Every import under `root` that runs up a layer, sideways to a sibling unit, or into
    another unit's private (`_name`) module."""
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        here = unit_of(module)
        for target, line in imports_of(path, module, root):
            there = unit_of(target)
            if there == here or (module, target) in ALLOWED:
                continue
            private = [p for p in target.split(".")[2:] if p.startswith("_")]
            if private:
                problems.append(f"{path.relative_to(root.parent)}:{line}: {module} imports "
                                f"{target}, private to {there}")
                continue
            if here not in RANK or there not in RANK:
                problems.append(f"{path.relative_to(root.parent)}:{line}: {module} -> "
                                f"{target}: unit {here if here not in RANK else there!r} "
                                "has no layer in tests/test_layers.py")
            elif RANK[there] >= RANK[here]:
                kind = "a sibling" if RANK[there] == RANK[here] else "an upper layer"
                problems.append(f"{path.relative_to(root.parent)}:{line}: {module} ({here}) "
                                f"imports {target} ({there}), {kind}")
    return problems


def test_monitor_imports_run_down_the_layers():
    assert upward_imports(PACKAGE) == []


def raw_store_sql(root: Path) -> list[str]:
    """Places outside `monitor/store/` that reach the store's connection (`<x>.db`) or run
    SQL through it (`store.query`, `store._fetchone`, `store._fetchall`)."""
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if path.is_relative_to(root / "store"):
            continue
        found: list[tuple[int, str]] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Attribute):
                continue
            owner = ast.unparse(node.value)
            if node.attr == "db" or (node.attr in ("query", "_fetchone", "_fetchall")
                                     and owner.rsplit(".", 1)[-1] == "store"):
                found.append((node.lineno, f"{owner}.{node.attr}"))
        problems += [f"{path.relative_to(root.parent)}:{line}: {what}"
                     for line, what in sorted(found)]
    return problems


def test_only_the_store_runs_sql_on_its_connection():
    """Triage, the console and the rest call Store methods, so a second backend only has to
    carry the SQL in `monitor/store/`."""
    assert raw_store_sql(PACKAGE) == []


def test_raw_sql_checker_sees_connection_use(tmp_path):
    root = tmp_path / "monitor"
    (root / "web").mkdir(parents=True)
    (root / "store").mkdir()
    (root / "store" / "db.py").write_text("def f(self):\n    return self.db.execute('x')\n")
    (root / "web" / "ops.py").write_text(
        "def f(store, st):\n    store.db.execute('SELECT 1')\n"
        "    st.store.query('SELECT 2')\n    store.search_incidents(None)\n")
    assert raw_store_sql(root) == ["monitor/web/ops.py:2: store.db",
                                   "monitor/web/ops.py:3: st.store.query"]


def test_allowed_upward_imports_still_exist():
    """An exception whose import is gone must leave the list (it would hide a new one)."""
    found = {(module_name(p, PACKAGE), t) for p in PACKAGE.rglob("*.py")
             for t, _ in imports_of(p, module_name(p, PACKAGE), PACKAGE)}
    assert set(ALLOWED) <= found


@pytest.mark.parametrize(("source", "expected"), [
    ("from monitor.alerting.notification import Notification\n",
     "monitor/store/outbox.py:1: monitor.store.outbox (store) imports "
     "monitor.alerting.notification (alerting), an upper layer"),
    ("def f():\n    from ..matching import rules\n",
     "monitor/store/outbox.py:2: monitor.store.outbox (store) imports "
     "monitor.matching (matching), a sibling"),
    ("from monitor import store, __version__\nfrom monitor import alerting\n",
     "monitor/store/outbox.py:2: monitor.store.outbox (store) imports "
     "monitor.alerting (alerting), an upper layer"),
    ("from . import _util\nfrom monitor.store import _util\n", None),
    ("from monitor.alerting import _x\n",
     ["monitor/store/outbox.py:1: monitor.store.outbox (store) imports "
      "monitor.alerting (alerting), an upper layer",
      "monitor/store/outbox.py:1: monitor.store.outbox imports monitor.alerting._x, "
      "private to alerting"]),
    ("from monitor.models import __version__, _x\n",
     "monitor/store/outbox.py:1: monitor.store.outbox imports monitor.models._x, "
     "private to models"),
    ("from monitor.matching._native import f\n",
     "monitor/store/outbox.py:1: monitor.store.outbox imports monitor.matching._native, "
     "private to matching"),
    ("import monitor.models\n", None),
])
def test_checker_sees_upward_and_sibling_imports(tmp_path, source, expected):
    """The checker itself, on a small tree: absolute, relative and lazy imports."""
    root = tmp_path / "monitor"
    (root / "store").mkdir(parents=True)
    (root / "store" / "__init__.py").write_text("")
    (root / "store" / "_util.py").write_text("")
    (root / "alerting").mkdir()
    (root / "store" / "outbox.py").write_text(source)
    expected = [] if expected is None else [expected] if isinstance(expected, str) else expected
    assert upward_imports(root) == expected
