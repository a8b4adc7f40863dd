"""The MLflow UI, in headless Chromium: a sweep's parent run, its children and the report; a run's
verdict, knob and objective chart sections, in the model-training view.

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``, ``/usr/bin/chromedriver``)
and selenium; screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from sematune.tracking.description import TRAINING_VIEW, run_page, verdict_line
from tests.conftest import requires
from tests.tracking.servers import mlflow_server
from tests.tracking.test_sweep import QUICK, client_for, sweep_runs

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
# the network is closed: no first-run, sync, component or background fetches
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1600,1000"]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    webdriver = requires("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-', dir=tmp_path)}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def body_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def show_more(driver) -> None:
    """Unfold a folded description (MLflow shows "Show more" under a long one)."""
    from selenium.webdriver.common.by import By

    for element in driver.find_elements(By.XPATH, "//*[normalize-space(text())='Show more']"):
        if element.is_displayed():
            driver.execute_script("arguments[0].click();", element)
            return


def scroll_to(driver, text: str) -> None:
    """Bring the first element whose own text is ``text`` into view (for the screenshot)."""
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.XPATH, f"//*[normalize-space(text())='{text}']")
    if found:
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", found[0])
        time.sleep(1)


def wait_for_text(driver, text: str, timeout_s: float = 90) -> None:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in driver.find_element(By.TAG_NAME, "body").text:
            return
        time.sleep(0.5)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "timeout.png"))
    raise AssertionError(f"{text!r} not shown within {timeout_s:.0f}s; page: "
                         f"{driver.find_element(By.TAG_NAME, 'body').text[-1500:]}")


@pytest.mark.slow
def test_mlflow_ui_shows_runs_verdicts_charts_and_report(cli, sandbox: Path, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    res = cli("-m", *QUICK, "tuner=fixed,random", "seed=1", f"host_root={sandbox}")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    client = client_for(cli.cwd)
    parent, children = sweep_runs(client)
    exp_id, pid = parent.info.experiment_id, parent.info.run_id
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with mlflow_server(f"sqlite:///{cli.cwd / 'mlflow.db'}", cli.cwd, command="ui") as url:
        # the experiment, as SemaTune's links open it: the model-training runs table, not GenAI pages
        assert client.get_experiment(exp_id).tags["mlflow.experimentKind"] == "custom_model_development"
        browser.get(f"{url}/#/experiments/{exp_id}/runs{TRAINING_VIEW}")
        wait_for_text(browser, parent.info.run_name)
        assert "workflowType=machine_learning" in browser.current_url
        assert "Evaluation runs" not in body_text(browser) and "Model registry" in body_text(browser)
        for child in children:  # nested: hidden until the parent row is expanded
            assert child.info.run_name not in body_text(browser)
        expand = browser.find_element(
            By.XPATH, f"//a[contains(@href, '/runs/{pid}')]/ancestor::div[@role='gridcell']//button")
        expand.click()
        for child in children:
            wait_for_text(browser, child.info.run_name, 30)
        browser.save_screenshot(str(ARTIFACTS / "experiment_runs.png"))

        # a run's overview: its description states the verdict, the frozen configuration and the restore
        job = next(c for c in children if c.data.tags["tuner"] == "random")
        summary = json.loads(Path(client.download_artifacts(job.info.run_id, "summary.json", str(tmp_path))).read_text())
        browser.get(f"{url}/{run_page(exp_id, job.info.run_id)}")
        wait_for_text(browser, "Verdict")
        show_more(browser)  # MLflow folds a long description
        wait_for_text(browser, "Frozen configuration")
        shown = body_text(browser)
        assert "Verdict" in shown and verdict_line(summary) in shown, shown[:3000]
        scroll_to(browser, "Description")
        browser.save_screenshot(str(ARTIFACTS / "run_overview.png"))

        # its charts, grouped by key section: knob values, target and host metrics, the objective
        browser.get(f"{url}/{run_page(exp_id, job.info.run_id, 'model-metrics')}")
        wait_for_text(browser, "window")
        lines = body_text(browser).splitlines()
        sections = {line: lines[i + 1] for i, line in enumerate(lines[:-1]) if lines[i + 1].startswith("(")}
        knobs = len([k for k in job.data.metrics if k.startswith("knob/")])
        assert sections.get("knob") == f"({knobs})" and knobs > 0, sections
        assert {"target", "host", "time", "window"} <= set(sections), sections
        assert sections.get("Model metrics") == "(3)", sections  # objective, reward, phase: the top level
        assert "system" not in sections  # MLflow's own system-metrics section stays MLflow's
        browser.save_screenshot(str(ARTIFACTS / "run_model_metrics.png"))

        # the sweep's parent run: its description is the comparison table, linking the plots
        browser.get(f"{url}/{run_page(exp_id, pid)}")
        wait_for_text(browser, "Stable phase vs fixed")
        assert "geo-mean" in body_text(browser) or "Show more" in body_text(browser)
        assert "random" in body_text(browser)
        scroll_to(browser, "Description")
        browser.save_screenshot(str(ARTIFACTS / "parent_overview.png"))

        browser.get(f"{url}/{run_page(exp_id, pid, 'artifacts')}")
        wait_for_text(browser, "report")
        browser.find_element(By.XPATH, "//*[normalize-space(text())='report']").click()
        wait_for_text(browser, "report.html", 30)
        for name in ("comparison_bars.png", "objective_per_window.png", "knobs_best_synthetic.png", "report.md"):
            assert name in body_text(browser)
        browser.find_element(By.XPATH, "//*[normalize-space(text())='report.html']").click()
        deadline = time.monotonic() + 60
        shown = ""
        while time.monotonic() < deadline and "geo-mean" not in shown:
            time.sleep(0.5)
            frames = browser.find_elements(By.TAG_NAME, "iframe")
            if frames:
                browser.switch_to.frame(frames[0])
                shown = body_text(browser)
                images = browser.find_elements(By.TAG_NAME, "img")
                browser.switch_to.default_content()
        browser.save_screenshot(str(ARTIFACTS / "parent_run_report.png"))
    assert "SemaTune sweep" in shown and "geo-mean" in shown and "vs fixed" in shown, shown[:2000]
    assert len(images) == 3  # the report's plots, inlined
