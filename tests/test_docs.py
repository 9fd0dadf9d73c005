"""The examples in the docs run: every ```python block of docs/api.md, in a fresh folder."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def python_blocks(doc: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("doc", ["docs/api.md"])
def test_doc_examples_run(doc, tmp_path, monkeypatch, capsys):
    blocks = python_blocks(REPO / doc)
    assert blocks, f"{doc} has no python example"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLANNER_CACHE", str(tmp_path / "cache"))
    for code in blocks:
        exec(compile(code, doc, "exec"), {"__name__": "__doc_example__"})
    out = capsys.readouterr().out
    assert "社区卫生服务中心" in out and "missing.csv" in out  # the example printed its results and the error
    assert (tmp_path / "study.toml").exists()
