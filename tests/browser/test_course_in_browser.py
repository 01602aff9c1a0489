"""Every course notebook as a student runs it: JupyterLab 4 in headless chromium, offline, Run All Cells with smoke
parameters. Oracles: every code cell got an execution count, no error output, no page error, every figure a decoded
image; notebook 04's bertviz views hold the tokens as SVG text on the first run; the sliders of 05 and 06 redraw their
figure. And the executed HTML that `tinyattn-lab course` writes draws the bertviz views too, offline.

Slow (minutes on 2 CPU cores): part of `make test` and CI, not of `-m "not slow"`. Skips, with the install command,
where chromium or Playwright is missing. A failure leaves a screenshot and the console log (the report says where).
"""

from __future__ import annotations

import os
import re

import pytest
from browser.lab import NOTEBOOKS

pytestmark = [pytest.mark.slow, pytest.mark.browser]
RUN_TIMEOUT_MS = int(os.environ.get("TINYATTN_BROWSER_TIMEOUT", "1800")) * 1000  # a busy 2-core machine is slow
ERROR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'
FINISHED = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(p => p.innerText);
  if (prompts.length === 0 || prompts.some(p => p.includes('*'))) return false;
  return prompts.every(p => /\\[\\d+\\]/.test(p)) || document.querySelector('%s') !== null;
}""" % ERROR_OUTPUT.replace("'", "\\'")
IMAGES = """() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output img')]
  .map(i => ({decoded: i.complete && i.naturalWidth > 0, src: i.src.slice(0, 40)}))"""
CELL_IMAGES = "cell => [...cell.querySelectorAll('.jp-OutputArea-output img')].map(i => i.src).join('|')"


def menu(page, top: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()


def run_all(page, lab, notebook: str) -> None:
    """Open the notebook, wait for an idle kernel, Run All Cells, wait until nothing is queued or running."""
    page.goto(lab.url(notebook))
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").wait_for()
    for _ in range(240):  # a kernel-choice dialog can still come on a busy machine: take the notebook's kernel
        if page.locator(".jp-Dialog .jp-mod-accept").count():
            page.locator(".jp-Dialog .jp-mod-accept").click()
        elif lab.kernel_state(notebook) == "idle":
            break
        page.wait_for_timeout(500)  # not time.sleep: Playwright's route handlers run only inside its calls
    else:
        raise AssertionError(f"the kernel of {notebook} did not start within 2 minutes")
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(FINISHED, timeout=RUN_TIMEOUT_MS, polling=1000)


def assert_ran_cleanly(page) -> None:
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()
    errors = page.locator(ERROR_OUTPUT).all_inner_texts()
    assert not errors, f"error output: {errors[0][-2000:]}"
    unexecuted = [i for i, p in enumerate(prompts) if not re.search(r"\[\d+\]", p)]
    assert not unexecuted, f"code cells {unexecuted} of {len(prompts)} did not run (prompts {prompts})"
    page.wait_for_function(f"() => ({IMAGES})().every(i => i.decoded)", timeout=60_000)
    images = page.evaluate(IMAGES)
    assert images and all(i["src"].startswith("data:image/png") for i in images), images  # matplotlib's figures
    assert not page.page_errors, f"page errors: {page.page_errors}"


def assert_bertviz_draws(page) -> None:
    """Every bertviz view (a div whose id starts with `bertviz`) has drawn SVG. The head view shows the tokens as SVG
    text, [CLS] among them; the model view draws a thumbnail per layer and head, and a click on one shows its tokens."""
    page.wait_for_function("() => { const views = [...document.querySelectorAll('div[id^=bertviz]')]; "
                           "return views.length > 0 && views.every(v => v.querySelectorAll('svg text').length > 0); }",
                           timeout=60_000)
    kinds = []
    for view in page.locator("div[id^=bertviz]").all():
        thumbnail = view.locator("#attn_background_0_0")
        kinds.append("model" if thumbnail.count() else "head")
        if thumbnail.count():  # the transparent click region drawn after the thumbnail's background and lines
            view.locator("g:has(> #attn_background_0_0) > rect:last-child").dispatch_event("click")
        tokens = view.locator("svg text")
        page.wait_for_function("v => [...v.querySelectorAll('svg text')].some(t => t.textContent === '[CLS]')",
                               arg=view.element_handle(), timeout=10_000)
        assert tokens.count() > 2, view.get_attribute("id")
    assert sorted(kinds) == ["head", "model"], kinds  # notebook 04 shows one of each


def assert_slider_redraws(page) -> None:
    """Move the first slider one step with the keyboard: the images of its cell change (the figure is redrawn)."""
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.scroll_into_view_if_needed()
    cell = handle.locator("xpath=ancestor::div[contains(concat(' ', @class, ' '), ' jp-Cell ')][1]")
    before = cell.evaluate(CELL_IMAGES)
    assert before, "the slider's cell shows no figure before the slider moves"
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    handle.focus()
    page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
    page.wait_for_function(f"([cell, before]) => {{ const now = ({CELL_IMAGES})(cell); "
                           "return now !== before && now.length > 0 && "
                           "[...cell.querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0); }",
                           arg=[cell.element_handle(), before], timeout=300_000, polling=500)


@pytest.mark.parametrize("notebook", [p.name for p in NOTEBOOKS])
def test_notebook_runs_in_jupyterlab_offline(notebook, lab, student_page):
    page = student_page
    run_all(page, lab, notebook)
    assert_ran_cleanly(page)
    if notebook.startswith("04_"):
        assert_bertviz_draws(page)
    if notebook.startswith(("05_", "06_")):
        assert_slider_redraws(page)
        assert not page.page_errors, f"page errors: {page.page_errors}"
    lab.shut_down_kernels()


def test_executed_course_html_draws_bertviz_offline(student_page, mirror_dir, tmp_path):
    """`tinyattn-lab course --only 04 --smoke`: its HTML, opened from disk offline, draws both bertviz views."""
    from tinyattn_lab.course import run_course

    [record] = run_course(tmp_path, notebooks=NOTEBOOKS[0].parent, data_dir=str(mirror_dir), smoke=True, only=["04_"])
    page = student_page
    page.goto(f"file://{record['html']}")
    assert_bertviz_draws(page)
    assert not page.page_errors, f"page errors: {page.page_errors}"
    assert not [u for u in page.blocked if re.search(r"d3|jquery", u)], page.blocked  # nothing bertviz needs
