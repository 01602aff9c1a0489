"""Without chromium the browser tests skip loudly, naming the install command (never a silent pass or an error)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from browser.lab import INSTALL, REPO

pytestmark = pytest.mark.slow  # a nested pytest run: ~10 s idle, too slow for the fast suite


def test_browser_tests_skip_with_the_install_command_when_chromium_is_missing():
    # PATH with only the interpreter's folder: no chromium (the fixture looks it up with shutil.which)
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           "tests/browser/test_course_in_browser.py", "-k", "test_notebook_runs and 01_"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and f"install it with `{INSTALL}`" in done.stdout, done.stdout
