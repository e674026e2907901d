"""Terminal output: every command the README shows, run at small sizes, prints lines of at most 100 columns even in
a wider terminal; runs, sweeps and trials end with a short result table; ``--quiet`` prints only the results folder;
numbers are rounded one way (half away from zero on the value's decimal form) for the terminal and the reports."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import ROOT

from sim.cli import main
from sim.outputs.text import WIDTH, fixed, percent, rounded, significant, text_table

README = ROOT / "README.md"

SMALL = {  # options that make each kind of command small, added to the README's command line
    "run": ["--replications", "2", "--patients", "20", "--workers", "1", "--no-plots"],
    "sweep": ["--replications", "2", "--patients", "5", "--workers", "1", "--no-plots"],
    "trial": ["--set", "trial.simulations=20", "--set", "trial.patients_per_arm=[10,20]", "--workers", "1",
              "--no-plots"],
    "verify": ["--patients", "300"],
    "validate": ["--trials", "2", "--pooled-replications", "2", "--workers", "1", "--no-plots"],
}


def readme_commands() -> list[list[str]]:
    """The runnable ``python run.py ...`` lines of the README's code blocks (no placeholders in capitals, no
    cluster address, no resumption of a folder that does not exist, not the web app)."""
    found = []
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.search(r"(?:^|^    |&& )python run\.py (.+)$", line)
        if match is None:
            continue
        words = shlex.split(match.group(1).split("#")[0])
        if any(re.search(r"[A-Z]{3}", w) or w.startswith("[") for w in words):
            continue
        if {"--scheduler", "--resume", "app"} & set(words):
            continue
        found.append(words)
    return found


def kind_of(words: list[str]) -> str:
    if words[0] in ("verify", "validate"):
        return words[0]
    return "sweep" if "/sweeps/" in words[0] else "trial" if "/trials/" in words[0] else "run"


def wide_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > WIDTH]


def test_the_readme_shows_the_commands_this_file_runs():
    commands = [" ".join(c) for c in readme_commands()]
    for expected in ("scenarios/low_dose.yaml", "scenarios/sweeps/one_way_weakest.yaml", "verify", "validate",
                     "scenarios/trials/time_to_relapse.yaml", "scenarios/trials/lenalidomide_single_arm.yaml",
                     "scenarios/sweeps/psa_cost_effectiveness.yaml", "scenarios/cost_effectiveness.yaml"):
        assert expected in commands, expected


@pytest.mark.parametrize("words", readme_commands(), ids=lambda words: " ".join(words)[:60])
def test_every_readme_command_fits_100_columns_in_a_wide_terminal(words: list[str], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "240")  # a wide terminal: the output still keeps to 100 columns
    monkeypatch.chdir(ROOT)
    kind = kind_of(words)
    out = [] if kind == "verify" else ["--out", str(tmp_path / "out")]
    status = main([*words, *SMALL[kind], *out])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert not wide_lines(printed.out) and not wide_lines(printed.err), wide_lines(printed.out + printed.err)
    if kind in ("run", "sweep", "trial"):
        assert printed.out.rstrip().endswith(f"results: {tmp_path / 'out'}")
        table_rule = re.compile(r"^-{2,}(  -+)*$", re.M)  # the rule under a text table's header
        assert table_rule.search(printed.out), printed.out


def test_help_of_every_command_and_check_of_every_shipped_file_fit(capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "240")
    monkeypatch.chdir(ROOT)
    for command in (["--help"], ["check", "--help"], ["schema", "--help"], ["verify", "--help"],
                    ["validate", "--help"], ["plot", "--help"], ["clean", "--help"]):
        with pytest.raises(SystemExit) as ended:
            main(command)
        assert ended.value.code == 0
        printed = capsys.readouterr()
        assert printed.out.startswith("usage: run.py") and not wide_lines(printed.out), command
    shipped = sorted((ROOT / "scenarios").rglob("*.yaml"))
    assert len(shipped) > 10
    for path in shipped:
        assert main(["check", str(path.relative_to(ROOT))]) == 0, path
        printed = capsys.readouterr()
        assert ": ok: " in printed.out and not wide_lines(printed.out), printed.out


def test_quiet_prints_only_the_results_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    for kind, path in (("run", "scenarios/low_dose.yaml"), ("sweep", "scenarios/sweeps/one_way_weakest.yaml"),
                       ("trial", "scenarios/trials/lenalidomide_single_arm.yaml")):
        out = tmp_path / kind
        assert main([path, *SMALL[kind], "--out", str(out), "--quiet"]) == 0
        printed = capsys.readouterr()
        assert printed.out == f"{out}\n" and printed.err == "", (kind, printed)
        assert (out / "report.md").is_file()


def test_a_run_without_out_prints_where_it_wrote_when_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch):
    """A script without --out finds its results from the one line --quiet prints."""
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text((ROOT / "scenarios" / "low_dose.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main([str(scenario), *SMALL["run"], "--quiet"]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert folder.parent == Path("results") / "low_dose" and (tmp_path / folder / "summary.csv").is_file()


def test_a_run_prints_arms_as_columns_with_the_same_rounding_as_its_report(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str],
                                                                            monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "run"
    assert main(["scenarios/low_dose.yaml", *SMALL["run"], "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("mean (95% CI)"))
    assert header.split()[-3:] == ["standard", "thalidomide", "lenalidomide"]
    report = (out / "report.md").read_text(encoding="utf-8")
    # every "number (low to high)" cell the terminal shows is in the report, written the same way
    cells = re.findall(r"-?\d+\.\d%? \(-?\d+\.\d to -?\d+\.\d\)", printed)
    assert len(cells) >= 6
    for cell in cells:
        assert cell in report, cell


@pytest.mark.parametrize("value, decimals, scale, expected", [
    (0.8435, 1, 100.0, "84.4"),   # binary 0.8435 is just below the half: the CSV's decimal form decides
    (0.8425, 1, 100.0, "84.3"),   # half away from zero, on the decimal form 84.25 -> 84.3
    (2.675, 2, 1.0, "2.68"),      # Python's round(2.675, 2) gives 2.67
    (-2.5, 0, 1.0, "-3"),         # away from zero, not to even
    (-0.04, 1, 1.0, "0.0"),       # never "-0.0"
])
def test_rounding_half_away_from_zero_on_the_decimal_form(value: float, decimals: int, scale: float, expected: str):
    assert fixed(value, decimals, scale) == expected
    assert str(rounded(value, decimals, scale)) == expected


def test_the_formatting_helpers_by_hand():
    assert percent(0.8435) == "84.4%" and percent(float("nan")) == ""
    assert fixed(1.25, 1, sign=True) == "+1.3" and fixed(0.0, 1, sign=True) == "0.0"
    assert significant(0.012345, 3) == "0.0123" and significant(123456.0, 3) == "1.23e+05"
    assert significant(2.5, 1) == "3"  # half away from zero, where "%.1g" % 2.5 gives "2"


def test_a_wide_table_splits_into_blocks_that_repeat_the_first_column():
    import pandas as pd

    frame = pd.DataFrame({f"arm number {k}": ["12.3 (10.1 to 14.5)"] * 3 for k in range(8)},
                         index=pd.Index(["disease-free weeks", "dropout", "remission"], name="outcome"))
    text = text_table(frame, width=80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert sum(line.startswith("disease-free weeks") for line in lines) >= 2  # one per block
    assert all(f"{k}" in text for k in range(8))


def test_a_long_yaml_path_wraps_between_its_keys_not_inside_a_word_or_number():
    """A one-way sweep's table names an unlabelled parameter by its path: when the first column is too
    narrow for it, the path breaks after a dot, and numbers such as 0.36 stay whole."""
    import pandas as pd

    frame = pd.DataFrame({"low → high": ["0.06 → 0.36"], "change (95% CI)": ["+1.2 (0.9 to 1.5)"]},
                         index=pd.Index(["therapies.lenalidomide_5.relapse.on_treatment_per_year"], name="parameter"))
    lines = text_table(frame, width=90).splitlines()  # the first column gets a third: 30 columns
    first_column = [line.split("  ")[0].strip() for line in lines[2:]]
    assert first_column == ["therapies.lenalidomide_5.", "relapse.on_treatment_per_year"]  # not "...relap", "se..."
    assert "0.06 → 0.36" in lines[2]


def test_units_are_singular_for_exactly_one():
    from sim.outputs.text import amount, measure

    assert amount("1", "percentage points") == "1 percentage point"
    assert amount("+1", "weeks") == "+1 week" and amount("1.0", "weeks") == "1.0 weeks"
    assert amount("2", "percentage points") == "2 percentage points"
    assert amount("1", "per patient") == "1 per patient"
    assert measure("1", "week") == "1 week" and measure("2", "week") == "2 weeks"


def test_a_resume_command_is_folded_as_a_shell_continues_it():
    from sim.cli.sweep import shell_lines

    command = ("python run.py scenarios/sweeps/one_way_weakest.yaml --replications 2 --set "
               "'arms={a: [b]}' --out-of-the-way --resume /a/rather/long/path/to/results/one_way_weakest.partial")
    text = shell_lines(command, 60)
    lines = text.splitlines()
    assert len(lines) > 1 and all(len(line) <= 60 for line in lines)
    assert all(line.endswith(" \\") for line in lines[:-1])
    assert shlex.split(text.replace("\\\n", " ")) == shlex.split(command)  # what the shell runs
