"""Fixtures of the browser tests: chromium through Playwright, one JupyterLab for the session, an offline page per test
that records the console and page errors, and the evidence (screenshot, console log) a failing test leaves behind."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from browser.lab import INSTALL, REPO, LabServer, offline, stage_course

EVIDENCE = Path(os.environ.get("TINYATTN_BROWSER_EVIDENCE", REPO / "runs" / "browser"))


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the browser tests need Playwright: pip install -c constraints.txt -e '.[dev]' (make setup)")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip(f"the browser tests need Debian's chromium on PATH: install it with `{INSTALL}`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable,
                                             args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def lab(browser, mirror_dir):
    """JupyterLab serving a staged copy of the course in a folder of its own (pytest's shared basetemp can be pruned
    by another pytest run of the same user while this one still serves from it)."""
    scratch = Path(tempfile.mkdtemp(prefix="tinyattn-browser-"))
    root = scratch / "course"
    root.mkdir()
    stage_course(root, str(mirror_dir))
    server = LabServer(root, scratch / "jupyterlab.log")
    yield server
    server.stop()
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture()
def student_page(browser, request):
    """A fresh page with every request that leaves the machine aborted; .console, .page_errors and .blocked record."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.blocked = offline(page)
    page.console, page.page_errors = [], []
    page.on("console", lambda m: page.console.append(f"[{m.type}] {m.text}"))
    page.on("pageerror", lambda e: (page.page_errors.append(str(e)), page.console.append(f"[pageerror] {e}")))
    request.node.student_page = page
    yield page
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure: a full-page screenshot, the console log and the blocked URLs, and where they are, in the report."""
    report = (yield).get_result()
    page = getattr(item, "student_page", None)
    if report.when != "call" or not report.failed or page is None:
        return
    folder = EVIDENCE / re.sub(r"[^\w.-]+", "_", item.nodeid)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(folder / "screenshot.png"), full_page=True)
    except Exception as error:  # a crashed page still leaves its console log
        (folder / "screenshot-failed.txt").write_text(str(error))
    (folder / "console.log").write_text("\n".join(page.console + [f"[blocked] {u}" for u in page.blocked]) + "\n")
    report.sections.append(("browser evidence", f"screenshot and console log saved in {folder}"))
