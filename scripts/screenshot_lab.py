"""Screenshot notebook 09 in a real, headless JupyterLab with its widgets rendered (issue 16's check of `[lab]`).

Starts ``jupyter lab`` (no browser, a random token) on a copy of the notebook in a temporary folder, opens it in
headless Chromium, runs every cell through JupyterLab's own ``notebook:run-all-cells`` command (over the Chrome
DevTools Protocol), waits until the kernel is idle and the ipywidgets are drawn, scrolls to the widgets and saves a
PNG with a ``.meta.json`` saying how it was made. Nothing in the checkout is touched but the output files.

    python scripts/screenshot_lab.py results/smoke/jupyterlab/09_interactive_jupyterlab.png

Needs ``jupyterlab`` (``pip install -e .[lab]``) in the running Python and a Chromium (Debian: ``apt-get install
chromium``); ``BLURKIT_RESULTS_DIR`` is pointed at the temporary folder so the notebook's own results go there.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import websocket  # websocket-client, a dependency of jupyter_server

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "09_interactive_blind_deconvolution.ipynb"
WIDTH, HEIGHT = 1400, 1500


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 120) -> str:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read().decode()
        except OSError:
            time.sleep(1)
    raise TimeoutError(url)


class Page:
    """The smallest CDP client: evaluate JavaScript, take screenshots."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=120, suppress_origin=True)
        self.next_id = 0

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def js(self, expr: str) -> object:
        res = self.call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True)
        return res["result"].get("value")

    def wait(self, expr: str, timeout: float, what: str) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if self.js(expr):
                return
            time.sleep(1)
        raise TimeoutError(what)


def main(out: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("error: no chromium on PATH (Debian: apt-get install chromium)")
    tmp = Path(tempfile.mkdtemp(prefix="blurkit-lab."))
    shutil.copy(NOTEBOOK, tmp / NOTEBOOK.name)
    token, port, cdp = secrets.token_hex(16), free_port(), free_port()
    env = {**os.environ, "BLURKIT_RESULTS_DIR": str(tmp / "results"), "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    lab_cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp}",
               "--LabApp.expose_app_in_browser=True", "--ServerApp.allow_root=True"]
    lab = subprocess.Popen(lab_cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "lab.log", "w"))
    browser = None
    try:
        wait_http(f"http://127.0.0.1:{port}/api/status?token={token}")
        url = f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={token}"
        browser = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                                    f"--remote-debugging-port={cdp}", f"--window-size={WIDTH},{HEIGHT}",
                                    f"--user-data-dir={tmp / 'chrome'}", url],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        targets = json.loads(wait_http(f"http://127.0.0.1:{cdp}/json"))
        page = Page(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))
        page.wait("!!(window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell'))", 180, "notebook open")
        page.wait("!!document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=\"idle\"]') || "
                  "!!document.querySelector('.jp-Toolbar-kernelStatus')", 120, "kernel started")
        time.sleep(5)
        started = time.time()
        page.js("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait("document.querySelectorAll('.jp-InputPrompt').length > 0 && "
                  "![...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*')) && "
                  "document.querySelectorAll('.jupyter-widgets.widget-container, .jupyter-widgets.widget-box')"
                  ".length > 0", 900, "cells run and widgets drawn")
        run_s = time.time() - started
        time.sleep(3)
        widgets = page.js("document.querySelectorAll('.jupyter-widgets').length")
        page.js("document.querySelector('.jupyter-widgets.widget-box, .jupyter-widgets.widget-container')"
                ".closest('.jp-Cell').scrollIntoView({block: 'start'})")
        time.sleep(2)
        shot = page.call("Page.captureScreenshot", format="png")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(shot["data"]))
        versions = {m: __import__(m).__version__ for m in ("jupyterlab", "ipywidgets", "torch")}
        sys.path.insert(0, str(ROOT))
        from blurkit.provenance import git_commit

        chrome_version = subprocess.run([chromium, "--version"], capture_output=True, text=True).stdout.strip()
        meta = {"what": "notebook 09 in JupyterLab, every cell run by notebook:run-all-cells, widgets rendered",
                "command": f"python scripts/{Path(__file__).name} {out}", "notebook": str(NOTEBOOK.relative_to(ROOT)),
                "browser": chrome_version, "headless": True, "window": [WIDTH, HEIGHT], "versions": versions,
                "widget_elements": widgets, "run_all_s": round(run_s, 1), "git_commit": git_commit(),
                "python": sys.version.split()[0],
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        out.with_suffix(".meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        print(f"wrote {out} ({widgets} widget elements, run-all {run_s:.0f} s)")
    finally:
        for proc in (browser, lab):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "results" / "smoke" / "jupyterlab" /
         "09_interactive_jupyterlab.png")
