"""The "Testing XDP programs" example of docs/testing.md is a real, passing test."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .support import ROOT

DOC = ROOT / "docs" / "testing.md"


def example_source() -> str:
    text = DOC.read_text()
    section = text.split("## Testing XDP programs", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "no python block under 'Testing XDP programs'"
    return match.group(1)


def test_docs_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the example loads examples/xdp_firewall.o relative to the checkout
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(example_source(), str(DOC), "exec"), namespace)
    tests = [obj for name, obj in namespace.items() if name.startswith("test_") and callable(obj)
             and getattr(obj, "__test__", True)]
    assert [t.__name__ for t in tests] == ["test_firewall_drops_blocked_ports"]
    for test in tests:
        test()
