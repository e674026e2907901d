"""Behaviour pinned across refactorings: every shipped scenario, sweep and trial file, run small,
writes byte-identical data files to the hashes recorded in ``tests/golden/behaviour_hashes.json``.

The hashes are refreshed only on purpose, by ``python benchmarks/behaviour_hashes.py --record``
after a change that is meant to move results (say why in the commit).

The copies of the scenario files as they were before the pathway rules of docs/model.md section 2b
(``tests/fixtures/scenarios_before_2b/``) are pinned to the hashes they had then
(``tests/golden/behaviour_hashes_before_2b.json``), never re-recorded: a file without the new keys
writes exactly what it wrote before the rules existed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("behaviour_hashes", ROOT / "benchmarks" / "behaviour_hashes.py")
assert _spec is not None and _spec.loader is not None
behaviour = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(behaviour)
RECORDED = json.loads(behaviour.RECORD.read_text(encoding="utf-8"))
BEFORE_2B = json.loads(behaviour.FIXTURE_RECORD.read_text(encoding="utf-8"))


def test_every_shipped_file_is_recorded() -> None:
    assert sorted(behaviour.cases()) == sorted(RECORDED)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_data_files_are_byte_identical(name: str, tmp_path: Path) -> None:
    hashes = behaviour.run_case(behaviour.cases()[name], tmp_path / "out")
    changed = sorted(f for f in set(hashes) | set(RECORDED[name]) if hashes.get(f) != RECORDED[name].get(f))
    assert not changed, (f"{name}: {', '.join(changed)} differ from the recorded hashes; if the change is meant "
                         "to move results, run `python benchmarks/behaviour_hashes.py --record` and say why")


def test_every_file_before_2b_is_recorded() -> None:
    assert len(BEFORE_2B) == 12
    assert sorted(behaviour.cases(behaviour.FIXTURE)) == sorted(BEFORE_2B)


@pytest.mark.parametrize("name", sorted(BEFORE_2B))
def test_files_without_the_2b_keys_write_what_they_wrote_before(name: str, tmp_path: Path) -> None:
    hashes = behaviour.run_case(behaviour.cases(behaviour.FIXTURE)[name], tmp_path / "out")
    changed = sorted(f for f in set(hashes) | set(BEFORE_2B[name]) if hashes.get(f) != BEFORE_2B[name].get(f))
    assert not changed, f"{name}: {', '.join(changed)} differ from what the file wrote before the rules of section 2b"
