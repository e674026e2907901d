"""A small golden run: any change to the model's numbers shows up here first.

The golden files are refreshed only on purpose, by ``python tests/test_golden.py`` after a change
that is meant to move results (say why in the commit).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
ARGS = [str(HERE.parent / "scenarios" / "case_mix.yaml"), "--replications", "3", "--patients", "120", "--seed", "77",
        "--no-plots", "--quiet", "--workers", "1"]
FILES = ("summary.csv", "comparison.csv", "survival.csv")


def _run(out: Path) -> None:
    from sim.cli import main

    assert main([*ARGS, "--out", str(out)]) == 0


def test_golden_summary_unchanged(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _run(out)
    for name in FILES:
        assert (out / name).read_bytes() == (GOLDEN / name).read_bytes(), (
            f"{name} differs from tests/golden/{name}; if the change is intended, run "
            "`python tests/test_golden.py` and say why in the commit")


if __name__ == "__main__":
    import shutil
    import tempfile

    sys.path.insert(0, str(HERE.parent))
    with tempfile.TemporaryDirectory() as tmp:
        _run(Path(tmp) / "run")
        GOLDEN.mkdir(exist_ok=True)
        for name in FILES:
            shutil.copyfile(Path(tmp) / "run" / name, GOLDEN / name)
    print(f"refreshed {', '.join(FILES)} in {GOLDEN}")
