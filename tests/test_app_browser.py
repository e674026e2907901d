"""The web app in a real browser: Debian's headless Chromium, driven by Playwright, against `run.py app` on loopback.

One server (a free port on 127.0.0.1, a results folder of its own, killed after the tests and
in any case after five minutes) and one browser serve the tests, which follow a user's session in
order: load, edit, run, check the tables against the command line's and the figures for content,
download the zip and compare it with the command line's folder, then bad input, cancelling, two
tabs at once, trial planning and a sweep, comparing and opening folders. CI installs Chromium
(`.ci/run`); elsewhere the tests are skipped when it or Playwright is missing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
SERVER_LIFETIME_SECONDS = 300
RUN_TIMEOUT_MS = 120_000
# The README's screenshots are taken by this run and written to docs/figures/ only when asked
# (CLE_SIM_SCREENSHOTS=1), so that running the tests leaves the checkout as it was.
SCREENSHOT = ROOT / "docs" / "figures" / "app.png"
KEEP_SCREENSHOTS = os.environ.get("CLE_SIM_SCREENSHOTS") == "1"
PROBABILITY = ".st-key-scn-low_dose-f-therapies__lenalidomide_5__response__probability"


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does)"
    for module in ("playwright", "streamlit"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e '.[test,app]')"
    return None


if _missing() is not None:
    if os.environ.get("CI"):
        raise RuntimeError(f"the browser tests cannot run in CI: {_missing()}")
    pytest.skip(str(_missing()), allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=30_000)  # a loaded two-core machine may take seconds to redraw the page


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("app-results")


@pytest.fixture(scope="module")
def server(results: Path) -> Iterator[str]:
    """`python run.py app` on a free loopback port, with its own results folder; stopped after the module."""
    port = _free_port()
    # `timeout` ends the server even if this process dies without cleaning up.
    command = ["timeout", "--kill-after=5", str(SERVER_LIFETIME_SECONDS), sys.executable, "run.py", "app",
               "--port", str(port), "--results", str(results)]
    process = subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.read() == b"ok":
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read() if process.stdout else ""
                    raise RuntimeError(f"the app did not start:\n{output}") from None
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def page(browser: Browser, server: str) -> Iterator[Page]:
    """The first tab of the session, kept from test to test as a user keeps it."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    tab = context.new_page()
    tab.goto(server)
    expect(tab.get_by_role("heading", name="CLE treatment-strategy simulator")).to_be_visible(timeout=60_000)
    yield tab
    context.close()


def _shown(page: Page, folder: Path) -> Any:
    """A folder's path where the Scenario tab shows its newest run."""
    return page.get_by_role("tabpanel", name="Scenario").get_by_text(str(folder), exact=True)


def _type(page: Page, selector: str, text: str) -> None:
    box = page.locator(f"{selector} input, {selector} textarea").first
    box.fill(text)
    box.press("Enter")


def _pick(page: Page, label: str, option: str) -> None:
    """Choose an option of a select box by typing it, as a keyboard user would."""
    box = page.get_by_role("combobox", name=label)
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option).click()
    expect(box).to_have_value(option)


def _command(page: Page) -> str:
    return page.locator("[data-testid='stCode']").filter(has_text="python run.py").first.inner_text().strip()


def _wait_for_run(page: Page, heading: str) -> None:
    """Until the tab's run has finished and its result is shown under ``heading``."""
    expect(page.get_by_text("done in")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=30_000)


def _cli(args: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run.py" if cwd == ROOT else str(ROOT / "run.py"), *args], cwd=cwd,
                          env=_env(), capture_output=True, text=True, timeout=300)


def _image_content(page: Page) -> list[list[float]]:
    """Each visible figure's width, height, share of non-white pixels and number of colours (sampled)."""
    script = """(img) => { const c = document.createElement('canvas'); c.width = img.naturalWidth;
        c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data; let ink = 0, n = 0; const colours = new Set();
        for (let i = 0; i < d.length; i += 4 * 13) { n++; if (d[i] < 235 || d[i+1] < 235 || d[i+2] < 235) ink++;
        colours.add((d[i] << 16) | (d[i+1] << 8) | d[i+2]); }
        return [c.width, c.height, ink / n, colours.size]; }"""
    images = page.locator("[data-testid='stImage'] img:visible")
    return [images.nth(i).evaluate(script) for i in range(images.count())]


def _rows(table: Any) -> list[list[str]]:
    """The cells of an HTML table, row by row (header first)."""
    return table.evaluate("t => Array.from(t.querySelectorAll('tr')).map("
                          "r => Array.from(r.children).map(c => c.innerText.trim()))")


def _data_files(folder: Path) -> dict[str, str]:
    """SHA-256 of every file but run.json, with report.md up to its provenance section."""
    hashes = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "run.json"):
        data = path.read_bytes()
        if path.name == "report.md":
            data = data.split(b"## Provenance")[0]
        hashes[path.relative_to(folder).as_posix()] = hashlib.sha256(data).hexdigest()
    return hashes


STATE: dict[str, Any] = {}


def test_page_shows_the_main_scenario_with_a_form_from_the_schema(page: Page) -> None:
    expect(page.get_by_role("combobox", name="Scenario")).to_have_value("scenarios/low_dose.yaml")
    page.get_by_text("Therapy: lenalidomide_5").click()
    field = page.locator(PROBABILITY)
    expect(field.locator("input")).to_have_value("0.9")
    expect(field).to_contain_text("probability (probability, 0 to 1)")  # the unit, in the label
    caption = field.locator("xpath=following-sibling::*[1]")
    expect(caption).to_contain_text("Chance that a first course of this therapy brings a response")
    expect(caption).to_contain_text("range: 0 to 1")
    expect(page.get_by_text("ok: 3 arms, 3 therapies, 60,000 patient trajectories")).to_be_visible()


def test_an_edited_small_run_shows_the_command_lines_tables_and_figures(
        page: Page, results: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name, value in (("patients", "100"), ("replications", "5"), ("seed", "11")):
        _type(page, f".st-key-scn-low_dose-size-{name}", value)
    _type(page, PROBABILITY, "0.85")
    expect(page.locator("[data-testid='stCode']").filter(has_text="python run.py").first).to_contain_text(
        "--set therapies.lenalidomide_5.response.probability=0.85")
    command = _command(page)
    assert shlex.split(command)[2:] == ["scenarios/low_dose.yaml", "--replications", "5", "--patients", "100",
                                        "--seed", "11", "--set", "therapies.lenalidomide_5.response.probability=0.85"]
    expect(page.locator("[data-testid='stCode']").filter(has_text="name: low_dose")).to_contain_text(
        "probability: 0.85")
    reference = tmp_path_factory.mktemp("cli") / "run"
    cli = subprocess.Popen([sys.executable, *shlex.split(command)[1:], "--out", str(reference), "--quiet"], cwd=ROOT,
                           env=_env())
    page.locator(".st-key-scn-run button").click()
    expect(page.locator("[data-testid='stProgress']").or_(page.get_by_text("done in"))).to_be_visible(timeout=30_000)
    _wait_for_run(page, "Newest run of this tab")
    assert cli.wait(timeout=300) == 0
    STATE["reference"] = reference
    [folder] = [p for p in (results / "low_dose").iterdir() if not p.name.startswith(".")]
    STATE["first"] = folder
    expect(_shown(page, folder)).to_be_visible()

    from sim.studies.run.report import arm_table, comparison_table

    tables = page.get_by_role("tabpanel", name="Scenario").locator("[data-testid='stTable'] table")
    for shown, expected in ((tables.nth(0), arm_table(pd.read_csv(reference / "summary.csv"))),
                            (tables.nth(1), comparison_table(pd.read_csv(reference / "comparison.csv")))):
        rows = _rows(shown)
        assert rows[0] == ["arm", *expected.columns]
        assert rows[1:] == [[str(arm), *map(str, row)] for arm, row in expected.iterrows()]

    figures = sorted(p.name for p in (reference / "figures").glob("*.png"))
    expect(page.locator("[data-testid='stImage'] img:visible")).to_have_count(len(figures))
    for width, height, ink, colours in _image_content(page):
        assert width >= 400 and height >= 250, "a figure is too small to read"
        assert ink > 0.02 and colours > 20, f"a figure looks blank: {ink:.3f} ink, {colours} colours"
    cli_info = json.loads((reference / "run.json").read_text(encoding="utf-8"))
    app_info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert app_info["workers"] == cli_info["workers"], "the page's run does not use the command line's workers"


def test_the_zip_holds_the_folder_the_command_line_writes(page: Page, tmp_path_factory: pytest.TempPathFactory) -> None:
    with page.expect_download() as download:
        page.locator(".st-key-scn-latest-zip button").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    folder: Path = STATE["first"]
    assert download.value.suggested_filename == f"{folder.name}.zip"
    unpacked = Path(STATE["reference"]).parent / "from-zip"
    archive.extractall(unpacked)
    reference = _data_files(STATE["reference"])
    from_zip = _data_files(unpacked / folder.name)
    assert sorted(from_zip) == sorted(reference)
    assert from_zip == reference
    assert "patients.csv" in reference and "figures/kaplan_meier.png" in reference
    page.set_viewport_size({"width": 1400, "height": 1200})
    page.get_by_text("Therapy: lenalidomide_5").click()  # folded, so the form fits beside the file
    expect(page.locator(PROBABILITY)).to_be_hidden()
    page.get_by_role("heading", name="CLE treatment-strategy simulator").scroll_into_view_if_needed()
    shots = SCREENSHOT.parent if KEEP_SCREENSHOTS else tmp_path_factory.mktemp("screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / SCREENSHOT.name))
    page.get_by_role("heading", name="Newest run of this tab").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "app_results.png"))
    assert (shots / SCREENSHOT.name).stat().st_size > 10_000  # a page with content, not a blank one
    page.get_by_text("Therapy: lenalidomide_5").click()
    page.set_viewport_size({"width": 1400, "height": 1000})
    panel = page.get_by_role("tabpanel", name="Scenario")
    panel.get_by_role("tab", name="Report").click()
    expect(panel.get_by_role("heading", name="Provenance")).to_be_visible()
    figures = len(list((folder / "figures").glob("*.png")))
    expect(panel.locator("[data-testid='stImage'] img:visible")).to_have_count(figures)
    panel.get_by_role("tab", name="Figures").click()


def test_a_value_out_of_range_shows_the_command_lines_message_and_keeps_the_results(page: Page) -> None:
    _type(page, PROBABILITY, "1.5")
    expected = _cli(["check", "scenarios/low_dose.yaml", "--set",
                     "therapies.lenalidomide_5.response.probability=1.5"]).stderr.strip()
    assert expected.startswith("error: scenarios/low_dose.yaml: therapies.lenalidomide_5.response.probability")
    expect(page.get_by_text(expected)).to_be_visible()
    expect(page.locator(".st-key-scn-run button")).to_be_disabled()
    expect(_shown(page, STATE["first"])).to_be_visible()
    _type(page, PROBABILITY, "0.85")
    expect(page.locator(".st-key-scn-run button")).to_be_enabled()


def test_an_invalid_upload_shows_the_command_lines_message_and_keeps_the_results(
        page: Page, tmp_path: Path) -> None:
    bad = tmp_path / "bad_scenario.yaml"
    bad.write_text("name: low dose\nseed: 1\nfollow_up_weeks: 130\ncohort: {size: 0}\nreference_arm: standard\n"
                   "arms: {standard: [standrd]}\ntherapies:\n  standard:\n    drug: x\n"
                   "    response: {probability: 1.4, complete_probability: 0.3,\n"
                   "               time_to_response: {distribution: lognormal, median: 10, sigma: 0.5}}\n",
                   encoding="utf-8")
    expected = _cli(["check", bad.name], cwd=tmp_path)
    assert expected.returncode == 2 and len(expected.stderr.strip().splitlines()) >= 3
    page.locator(".st-key-scn-upload-file input[type='file']").set_input_files(str(bad))
    message = page.locator("[data-testid='stCode']").filter(has_text="error: bad_scenario.yaml")
    expect(message).to_have_text(expected.stderr.strip())
    expect(page.get_by_role("combobox", name="Scenario")).to_have_value("scenarios/low_dose.yaml")
    expect(_shown(page, STATE["first"])).to_be_visible()
    good = tmp_path / "my_case.yaml"
    good.write_text((ROOT / "scenarios" / "sequence.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    page.locator(".st-key-scn-upload-file input[type='file']").set_input_files(str(good))
    expect(page.get_by_role("combobox", name="Scenario")).to_have_value("upload: my_case.yaml")
    expect(page.locator("[data-testid='stCode']").filter(has_text="python run.py").first).to_have_text(
        "python run.py my_case.yaml")
    expect(page.get_by_text("bad_scenario.yaml was not loaded")).to_have_count(0)
    _pick(page, "Scenario", "scenarios/low_dose.yaml")
    expect(page.locator("[data-testid='stCode']").filter(has_text="python run.py").first).to_have_text(
        "python run.py scenarios/low_dose.yaml")


def test_cancelling_a_run_writes_nothing_and_keeps_the_results(page: Page, results: Path) -> None:
    _type(page, ".st-key-scn-low_dose-size-patients", "4000")
    _type(page, ".st-key-scn-low_dose-size-replications", "60")
    page.locator(".st-key-scn-run button").click()
    progress = page.locator("[data-testid='stProgress']")
    expect(progress).to_contain_text("blocks of patients", timeout=30_000)
    page.get_by_role("button", name="Cancel run").click()
    expect(page.get_by_text("cancelled; nothing was written")).to_be_visible(timeout=30_000)
    expect(_shown(page, STATE["first"])).to_be_visible()
    assert sorted(p.name for p in (results / "low_dose").iterdir()) == [STATE["first"].name]


def test_two_tabs_running_at_once_keep_their_own_results(page: Page, browser: Browser, results: Path) -> None:
    other = page.context.new_page()
    other.goto(page.url)
    _pick(other, "Scenario", "scenarios/sequence.yaml")
    expect(other.get_by_text("python run.py scenarios/sequence.yaml")).to_be_visible()
    for tab, name in ((page, "low_dose"), (other, "sequence")):
        _type(tab, f".st-key-scn-{name}-size-patients", "30")
        _type(tab, f".st-key-scn-{name}-size-replications", "2")
        expect(tab.locator("[data-testid='stCode']").filter(has_text="python run.py").first).to_have_text(
            f"python run.py scenarios/{name}.yaml --replications 2 --patients 30")
    page.locator(".st-key-scn-run button").click()
    other.locator(".st-key-scn-run button").click()
    _wait_for_run(other, "Newest run of this tab")
    _wait_for_run(page, "Newest run of this tab")
    mine = [p for p in (results / "low_dose").iterdir() if p.name != STATE["first"].name]
    theirs = list((results / "sequence").iterdir())
    assert len(mine) == 1 and len(theirs) == 1
    assert json.loads((mine[0] / "run.json").read_text(encoding="utf-8"))["scenario"] == "low_dose"
    assert json.loads((theirs[0] / "run.json").read_text(encoding="utf-8"))["scenario"] == "sequence"
    expect(_shown(page, mine[0])).to_be_visible()
    expect(_shown(other, theirs[0])).to_be_visible()
    expect(page.get_by_text(str(theirs[0]))).to_have_count(0)
    expect(other.get_by_text(str(mine[0]))).to_have_count(0)
    STATE["second"] = mine[0]
    other.close()


def test_trial_planning_and_a_sweep_run_from_the_page(page: Page) -> None:
    page.get_by_role("tab", name="Trial planning").click()
    _type(page, ".st-key-trl-time_to_relapse-f-trial__simulations", "20")
    _type(page, ".st-key-trl-time_to_relapse-f-trial__patients_per_arm", "[20, 40]")
    expect(page.get_by_text("ok: trial thalidomide vs lenalidomide, 20 simulated trials at each of 2 sizes")) \
        .to_be_visible()
    page.locator(".st-key-trl-run button").click()
    _wait_for_run(page, "Newest trial planning of this tab")
    rows = _rows(page.get_by_role("tabpanel", name="Trial planning").locator("[data-testid='stTable'] table").first)
    assert rows[0][:4] == ["patients_per_arm", "power", "ci_low", "ci_high"]
    assert [row[0] for row in rows[1:]] == ["20", "40"]
    for _, power, low, high, *_ in rows[1:]:
        assert 0 <= float(low) <= float(power) <= float(high) <= 1
    page.get_by_role("tab", name="Sweep").click()
    _pick(page, "Sweep file", "scenarios/sweeps/lenalidomide_taper_grid.yaml")
    _type(page, ".st-key-swp-lenalidomide_taper_grid-size-replications", "2")
    _type(page, ".st-key-swp-lenalidomide_taper_grid-size-patients", "20")
    expect(page.get_by_text("ok: grid sweep of 2 parameters, 15 points")).to_be_visible()
    page.locator(".st-key-swp-run button").click()
    _wait_for_run(page, "Newest sweep of this tab")
    expect(page.get_by_text("Every point")).to_be_visible()
    expect(page.locator("[data-testid='stImage'] img:visible").first).to_be_visible()


def test_two_runs_side_by_side_and_any_folder_opened(page: Page, results: Path) -> None:
    page.get_by_role("tab", name="Compare two runs").click()
    panel = page.get_by_role("tabpanel", name="Compare two runs")
    expect(panel.get_by_text("What differs in the scenarios")).to_be_visible()
    changes = _rows(panel.locator("[data-testid='stTable'] table").first)
    first, second = (json.loads((STATE[k] / "run.json").read_text(encoding="utf-8")) for k in ("first", "second"))
    assert ["seed", str(first["seed"]), str(second["seed"])] in changes
    assert ["cohort.size", "100", "30"] in changes
    expect(panel.locator("[data-testid='stImage'] img")).to_have_count(2)
    page.get_by_role("tab", name="Open a results folder").click()
    _type(page, ".st-key-open-path", str(STATE["reference"]))
    expect(page.get_by_text(f"Run results in {STATE['reference']}")).to_be_visible()
    [trial] = list((results / "time_to_relapse").iterdir())
    _type(page, ".st-key-open-path", str(trial))
    expect(page.get_by_text(f"Trial results in {trial}")).to_be_visible()
    expect(page.get_by_text("Smallest size reaching the target power")).to_be_visible()
    _type(page, ".st-key-open-path", str(STATE["reference"]) + "-missing")
    expect(page.get_by_text(f"error: {STATE['reference']}-missing: no such results folder")).to_be_visible()
    shutil.rmtree(Path(STATE["reference"]).parent / "from-zip", ignore_errors=True)
