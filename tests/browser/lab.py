"""The course as a student sees it: JupyterLab on 127.0.0.1 driven by Playwright in Debian's chromium, offline.

`LabServer` serves a scratch copy of the course (notebooks with smoke parameters injected the way papermill injects
them; the repository's other folders linked, so `../benchmarks/...` still resolves), with windowing off (every cell
rendered), no news or update checks, and a random token. `offline(page)` aborts every request that leaves the machine.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))  # every course notebook, 09 and later too
INSTALL = "apt-get update && apt-get install -y chromium"
LEAVES_THE_MACHINE = re.compile(r"^https?://(?!127\.0\.0\.1[:/])")
SETTINGS = {  # JupyterLab user settings: render every cell (not only those in view), start the notebook's kernel
    # without a kernel-choice dialog (it comes when the kernel specs load late, on a busy machine), never fetch news
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none",
                                                                    "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"checkForUpdates": False,
                                                                         "fetchNews": "false"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stage_course(root: Path, data_dir: str) -> None:
    """root/notebooks/NN_*.ipynb with smoke parameters and outputs under root/out; the rest of the repo linked."""
    for entry in REPO.iterdir():
        if entry.name not in ("notebooks", "runs", ".git", ".venv") and not (root / entry.name).exists():
            (root / entry.name).symlink_to(entry)
    (root / "notebooks").mkdir()
    for path in NOTEBOOKS:
        nb = load_notebook_node(str(path))  # what papermill reads: every cell has its tags list
        parameters = {"smoke": True, "data_dir": data_dir, "output_dir": str(root / "out" / path.stem)}
        nbformat.write(parameterize_notebook(nb, parameters, kernel_name="python3"), root / "notebooks" / path.name)


class LabServer:
    """JupyterLab on a free port of 127.0.0.1 with a random token, serving `root`; stop() shuts it down."""

    def __init__(self, root: Path, log: Path):
        self.port, self.token = free_port(), secrets.token_hex(16)
        settings, jupyter = root.parent / "lab-settings", root.parent / "jupyter"
        for name, values in SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = {**os.environ, **{f"JUPYTER_{d.upper()}_DIR": str(jupyter / d) for d in ("config", "data", "runtime")}}
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
             f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={jupyter / 'workspaces'}",
             "--ServerApp.port_retries=0", "--allow-root", "--LabApp.extension_manager=readonly"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                self.api("status")
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"JupyterLab did not start; its log: {log}") from None
                time.sleep(0.5)

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.base}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/notebooks/{notebook}?reset&token={self.token}"

    def kernel_state(self, notebook: str) -> str | None:
        """execution_state of the kernel of notebooks/<notebook> (None while it has none)."""
        for session in self.api("sessions"):
            if session["path"] == f"notebooks/{notebook}" and session.get("kernel"):
                return session["kernel"]["execution_state"]
        return None

    def shut_down_kernels(self) -> None:
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def offline(page) -> list[str]:
    """Abort every request that leaves the machine; returns the (growing) list of the URLs that were blocked."""
    blocked = []

    def abort(route):
        blocked.append(route.request.url)
        route.abort()

    page.route(LEAVES_THE_MACHINE, abort)
    return blocked
