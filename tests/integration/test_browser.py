"""The lab as a learner meets it: `make lab`'s JupyterLab, in a real browser.

JupyterLab starts through `make jupyter`, the same command line `make lab` runs (token
auth as shipped, the project venv's kernel), on a free port and over a copy of
notebooks/00_lab_check.ipynb without its outputs: JupyterLab autosaves a notebook whose
cells ran, so the committed notebook is never served, and every output on the page comes
from this run. Debian's Chromium (`make browser`), driven headless by Playwright, opens
the notebook, runs its first code cells with Shift+Enter and must show the stack's
versions. A screenshot is saved in the test's tmp_path and in .lab/browser/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from labkit.settings import REPO_ROOT, VERSIONS

pytestmark = pytest.mark.integration

NOTEBOOK = "00_lab_check.ipynb"
CHROMIUM = os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = REPO_ROOT / ".lab" / "browser" / "00_lab_check.png"
# The first two code cells: `import labkit as lk`, then `lk.stack.require_up()`, whose
# value is the dict of versions below (the committed notebook shows the same).
CELLS_TO_RUN = 2
EXPECTED = (
    f"'kafka': '{VERSIONS['kafka']}'",
    f"'registry': 'Apicurio {VERSIONS['apicurio']}'",
    f"'flink': '{VERSIONS['flink']}'",
)
# The notebook's kernelspec, started by the server from the project venv, and ready.
KERNEL_IDLE = "Python 3 (ipykernel) | Idle"
# Generous on a loaded 2-core machine; each wait returns as soon as the page is ready.
SERVER_START_S = 90
UI_TIMEOUT_MS = 120_000
STOP_GRACE_S = 20


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where it listens and the token it printed."""

    base: str
    token: str

    def url(self, path: str) -> str:
        """`path` under the server, logged in with the token as a learner's link is."""
        return f"{self.base}/{path}?token={self.token}"


def _free_port() -> int:
    """A port nothing listens on now (the kernel picks it, away from the stack's fixed ones)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _copy_without_outputs(source: Path, folder: Path) -> Path:
    """Copy a notebook into `folder` with outputs and counts cleared, and return the copy.

    JupyterLab then writes only to the copy, and the page can only show outputs that
    this run produced, not the ones committed.
    """
    notebook = json.loads(source.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    copy = folder / source.name
    copy.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return copy


def _jupyter_command(root: Path, port: int) -> list[str]:
    """`make jupyter` (the command line of `make lab`) on this root folder and port."""
    args = f"--no-browser --ServerApp.port={port} --ServerApp.port_retries=0"
    return ["make", "-s", "--no-print-directory", "-C", str(REPO_ROOT), "jupyter",
            f"JUPYTER_ROOT={root}", f"JUPYTER_ARGS={args}"]


def _jupyter_env(state: Path) -> dict[str, str]:
    """This environment, less an outer make's flags, with Jupyter's runtime files in `state`.

    Connection files and the saved layout then stay out of the user's home; the
    server's configuration and token handling are left as shipped.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env["JUPYTER_RUNTIME_DIR"] = str(state / "runtime")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(state / "workspaces")
    return env


def _wait_for_token(server: subprocess.Popen[bytes], log: Path, port: int) -> str:
    """The token from the server's log line `http://127.0.0.1:PORT/lab?token=...`."""
    pattern = re.compile(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)")
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        found = pattern.search(log.read_text(errors="replace"))
        if found:
            return found.group(1)
        if server.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail(f"JupyterLab did not print its URL (exit code {server.poll()}):\n"
                f"{log.read_text(errors='replace')[-3000:]}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Stop make and JupyterLab (their own process group); JupyterLab stops its kernel.

    make waits for JupyterLab before it exits, so waiting for make waits for both.
    """
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:  # the whole group has already exited
        return
    try:
        server.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(STOP_GRACE_S)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab as `make lab` runs it, serving a fresh copy of the lab-check notebook."""
    root, state = tmp_path / "notebooks", tmp_path / "jupyter"
    root.mkdir()
    _copy_without_outputs(REPO_ROOT / "notebooks" / NOTEBOOK, root)
    port, log = _free_port(), tmp_path / "jupyter.log"
    with log.open("wb") as out:
        server = subprocess.Popen(_jupyter_command(root, port), env=_jupyter_env(state),
                                  stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield Lab(f"http://127.0.0.1:{port}", _wait_for_token(server, log, port))
    finally:
        _stop(server)


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; Playwright starts it and closes it (its own process)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    flags = ["--disable-dev-shm-usage", "--disable-gpu"]
    if os.geteuid() == 0:  # Chromium's sandbox cannot start as root (containers, CI).
        flags.append("--no-sandbox")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=flags)
        try:
            yield chromium
        finally:
            chromium.close()


def _open_notebook(page: Page, lab: Lab) -> None:
    """Open the notebook and wait until its kernel is idle, as a learner would before running.

    The status bar names the kernel and its state once the kernel is connected (the
    toolbar's indicator already says idle before a kernel exists).
    """
    page.goto(lab.url(f"lab/tree/{NOTEBOOK}"))
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for()
    kernel = page.get_by_title(f"Change kernel for {NOTEBOOK}")
    expect(kernel).to_have_text(KERNEL_IDLE, timeout=UI_TIMEOUT_MS)


def _run_code_cells(page: Page, count: int) -> None:
    """Run the first `count` code cells one by one with Shift+Enter, each to completion.

    A cell is done when its prompt shows its execution count ([1]:, [2]:, ...): the
    kernel is fresh, so the n-th cell run is number n.
    """
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    for n in range(count):
        cell = cells.nth(n)
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        prompt = cell.locator(".jp-InputArea-prompt")
        prompt.filter(has_text=f"[{n + 1}]:").wait_for()


def _save_screenshot(page: Page, path: Path) -> None:
    """A PNG of the page as a learner sees it, in `path` and in .lab/browser/ for humans."""
    page.screenshot(path=path)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENSHOT)


def test_lab_check_runs_in_jupyterlab_in_a_real_browser(
    lab: Lab, browser: Browser, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """Run the lab check's first code cells in JupyterLab; the stack's versions must show.

    This is what a learner does first after `make lab`: if the server, its token, the
    venv's kernel, labkit or the stack fails them, this fails too.
    """
    committed = (REPO_ROOT / "notebooks" / NOTEBOOK).read_bytes()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(UI_TIMEOUT_MS)
    shot = tmp_path / "00_lab_check.png"
    try:
        _open_notebook(page, lab)
        _run_code_cells(page, CELLS_TO_RUN)
        versions = page.locator(".jp-Notebook .jp-CodeCell").nth(CELLS_TO_RUN - 1)
        # Centred, clear of the notification toasts in the bottom corner.
        versions.evaluate("cell => cell.scrollIntoView({block: 'center'})")
        shown = versions.locator(".jp-OutputArea").inner_text()
    finally:
        _save_screenshot(page, shot)
        record_property("screenshot", str(shot))
        print(f"screenshot: {shot} (copy: {SCREENSHOT})")
    missing = [text for text in EXPECTED if text not in shown]
    assert not missing, f"{missing} not in the output of require_up():\n{shown}\n(see {shot})"
    assert (REPO_ROOT / "notebooks" / NOTEBOOK).read_bytes() == committed
