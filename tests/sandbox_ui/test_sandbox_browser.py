"""End to end in a real browser: headless Chromium (Debian's package) driven by Playwright.

A bank modeler signs in, creates and submits an experiment; platform staff sign in and
approve it; the worker runs it; the modeler opens the model library and sees its ROC
plot. The sandbox runs as ``fedlab ui`` runs it (``streamlit run`` headless on a free
port, catalog URL in the environment). Screenshots of each step are saved under the
test's tmp folder.

The worker runs the experiment for real in this process: alignment and hetero LR through
the federation on the local runtime, over clean synthetic data (no sentinels: those are
the other test's business), and the ROC plot is drawn from the guest's stored aggregates.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_world import APP, PASSWORD, Template, build_template, copy_catalog, run_worker

from lab.commands.ui import streamlit_command
from lab.db import make_engine
from sandbox_ui.i18n import tr

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).is_file(),
        reason="headless Chromium is not installed (run .ci/browser as root: "
        "apt-get install -y chromium)",
    ),
]


def z(key: str, **fmt: object) -> str:
    return tr(key, "zh", **fmt)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.getbasetemp() / "browser_template", n=3000, plant=False)


@pytest.fixture
def sandbox(template: Template, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The sandbox served on a free port; yields (base URL, catalog URL)."""
    url = copy_catalog(template, tmp_path / "catalog")
    port = _free_port()
    env = {
        **os.environ,
        "FEDLAB_DATABASE_URL": url,
        "FEDLAB_ENVIRONMENT": "local",
        "FEDLAB_UI_MIN_CELL": "10",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(
        streamlit_command(APP, port=port, host="127.0.0.1"),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "the sandbox did not start: " + (tmp_path / "streamlit.log").read_text()[-2000:]
                )
            time.sleep(0.3)
        yield base, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_modeler_to_approval_to_model_roc(sandbox: tuple[str, str], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    base, url = sandbox
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        expect = sync_api.expect
        expect.set_options(timeout=TIMEOUT_MS)

        def sign_in(user: str) -> None:
            page.goto(base)
            page.get_by_label(z("signin.username")).fill(user)
            page.get_by_label(z("signin.password")).fill(PASSWORD)
            page.get_by_role("button", name=z("signin.button")).click()
            expect(page.get_by_text(f"当前用户：{user}")).to_be_visible()

        def open_page(key: str) -> None:
            page.get_by_test_id("stSidebarNavItems").get_by_role(
                "link", name=z(f"page.{key}"), exact=True
            ).click()
            expect(page.get_by_role("heading", name=z(f"page.{key}"), exact=True)).to_be_visible()

        # 1. the bank modeler creates and submits an experiment
        sign_in("alice")
        page.screenshot(path=str(shots / "1-home.png"), full_page=True)
        open_page("experiments")
        page.get_by_role("tab", name=z("exp.create")).click()
        name = page.get_by_label(z("exp.name"))
        name.fill("browser-lr")
        name.press("Enter")
        page.get_by_role("button", name=z("exp.create_submit")).click()
        created = page.get_by_text("已创建，状态：已提交")
        expect(created).to_be_visible()
        exp_id = int(created.inner_text().split()[1])
        page.screenshot(path=str(shots / "2-submitted.png"), full_page=True)
        page.get_by_role("button", name=z("signout.button")).click()

        # 2. platform staff review and approve it
        sign_in("sam")
        open_page("approvals")
        page.get_by_test_id("stSelectbox").first.click()
        page.get_by_role("option", name=f"{exp_id} · browser-lr · bank_a").click()
        expect(
            page.get_by_role("heading", name=f"{exp_id} · browser-lr", exact=True)
        ).to_be_visible()
        expect(page.get_by_text(z("apr.disclosure"))).to_be_visible()
        page.screenshot(path=str(shots / "3-review.png"), full_page=True)
        page.get_by_role("button", name=z("apr.approve"), exact=True).click()
        expect(
            page.get_by_text(z("apr.decided", id=exp_id, status=z("status.approved")))
        ).to_be_visible()
        page.get_by_role("button", name=z("signout.button")).click()

        # 3. the worker runs it
        engine = make_engine(url)
        try:
            assert exp_id in run_worker(engine, tmp_path / "runs", real=True)
        finally:
            engine.dispose()

        # 4. the modeler opens the model and sees its ROC plot
        sign_in("alice")
        open_page("models")
        roc = page.get_by_test_id("stPlotlyChart").first
        expect(roc).to_be_visible()
        expect(roc.locator(".js-plotly-plot")).to_be_visible()
        expect(roc.get_by_text(z("mdl.roc"))).to_be_visible()
        expect(roc).to_contain_text("bank_a/browser-lr v1")  # the new model, preselected
        expect(roc.locator("path.scatterpts, g.trace.scatter").first).to_be_attached()
        roc.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "4-model-roc.png"), full_page=True)
        browser.close()
    for shot in ("1-home.png", "2-submitted.png", "3-review.png", "4-model-roc.png"):
        assert (shots / shot).stat().st_size > 10_000, shot
    print(f"screenshots in {shots}")
