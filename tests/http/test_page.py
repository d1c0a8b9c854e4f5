"""The status page (GET /) in real headless Chromium, driven through
chromedriver's WebDriver HTTP API with urllib: it shows every barrier at k/N
with who waits, follows a release and a break by itself, and loads nothing
from elsewhere. With BARRIERD_SCREENSHOT=FILE it also saves a screenshot of a
busy page (docs/status-page.png is made so: see docs/observability.md)."""
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

from obs import Raw, Server, wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="chromium and chromedriver are not installed")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Browser:
    """One headless Chromium session over WebDriver."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bd-chromium-")
        self.log = open(os.path.join(self.dir, "chromedriver.log"), "wb")
        self.driver = subprocess.Popen([DRIVER, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
                                       stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_for(self._ready, timeout=30, what="chromedriver")
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,560", "--no-first-run", "--disable-extensions",
                f"--user-data-dir={self.dir}/profile"]}}}}
        self.sid = self.call("POST", "/session", caps)["sessionId"]

    def _ready(self):
        try:
            return self.call("GET", "/status")["ready"]
        except OSError:
            return False

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise AssertionError(f"webdriver {method} {path}: {e.read()[:500]}")

    def go(self, url):
        self.call("POST", f"/session/{self.sid}/url", {"url": url})

    def js(self, script):
        return self.call("POST", f"/session/{self.sid}/execute/sync",
                         {"script": script, "args": []})

    def screenshot(self, path):
        png = base64.b64decode(self.call("GET", f"/session/{self.sid}/screenshot"))
        with open(path, "wb") as f:
            f.write(png)

    def close(self):
        try:
            self.call("DELETE", f"/session/{self.sid}")
        finally:
            self.driver.terminate()
            try:
                self.driver.wait(10)
            except subprocess.TimeoutExpired:
                self.driver.kill()
                self.driver.wait()
            self.log.close()


# What the page shows, read from its DOM.
DOM = """
return Array.from(document.querySelectorAll('section.barrier')).map(s => ({
  name: s.dataset.name,
  count: s.querySelector('.count').textContent,
  state: s.className,
  width: s.querySelector('.fill').style.width,
  waiters: Array.from(s.querySelectorAll('.waiters li .who')).map(e => e.textContent),
  since: Array.from(s.querySelectorAll('.waiters li .since')).map(e => e.textContent),
  reason: (s.querySelector('.reason') || {}).textContent || '',
  missing: Array.from(s.querySelectorAll('.missing li')).map(e => e.textContent),
  meta: s.querySelector('.meta').textContent,
}));
"""


def page_shows(browser, pred, what, timeout=15):
    last = []

    def check():
        last[:] = browser.js(DOM)
        shown = {b["name"]: b for b in last}
        return [shown] if pred(shown) else None

    try:
        return wait_for(check, timeout=timeout, what=what)[0]
    except AssertionError:
        raise AssertionError(f"{what}; the page shows {last}")


@pytest.fixture
def browser():
    b = Browser()
    yield b
    b.close()


def test_page_follows_the_barriers(browser):
    with Server() as srv:
        browser.go(srv.http + "/")
        assert browser.js("return document.title") == "barrierd"
        page_shows(browser, lambda b: browser.js(
            "return !document.getElementById('empty').hidden"), "the empty page")
        w1 = srv.ctl_bg("wait", "deploy", "-n", "3", "--name", "teller-1")
        w2 = srv.ctl_bg("wait", "deploy", "-n", "3", "--name", "teller-2")
        got = page_shows(browser, lambda b: "deploy" in b and b["deploy"]["count"] == "2/3"
                         and sorted(b["deploy"]["waiters"]) == ["teller-1", "teller-2"],
                         "deploy at 2/3 with teller-1 and teller-2")
        assert got["deploy"]["width"].startswith("66.6")
        assert all(s.startswith("for ") for s in got["deploy"]["since"])
        assert "generation 0" in got["deploy"]["meta"]
        # the third arrives: released, the page follows to 0/3 of generation 1
        assert srv.ctl("wait", "deploy", "-n", "3", "--name", "teller-3").returncode == 0
        assert w1.wait(10) == 0 and w2.wait(10) == 0
        page_shows(browser, lambda b: b["deploy"]["count"] == "0/3"
                   and "generation 1" in b["deploy"]["meta"] and not b["deploy"]["waiters"],
                   "deploy released")
        # a timeout breaks it: the page shows it broken, with the reason
        assert srv.ctl("wait", "deploy", "-n", "3", "-t", "0.1", "--name", "late").returncode == 3
        page_shows(browser, lambda b: "broken" in b["deploy"]["state"]
                   and "timed out (late" in b["deploy"]["reason"], "deploy broken")
        assert srv.ctl("reset", "deploy").returncode == 0
        page_shows(browser, lambda b: "broken" not in b["deploy"]["state"]
                   and not b["deploy"]["reason"], "deploy reset")
        # a barrier with a member list: the page names who is missing, and follows
        tellers = "teller-1,teller-2,teller-3"
        m1 = srv.ctl_bg("wait", "bank", "--members", tellers, "--member", "teller-2")
        page_shows(browser, lambda b: "bank" in b and b["bank"]["count"] == "1/3"
                   and b["bank"]["missing"] == ["teller-1", "teller-3"], "bank missing 1 and 3")
        m3 = srv.ctl_bg("wait", "bank", "--members", tellers, "--member", "teller-3")
        page_shows(browser, lambda b: b["bank"]["count"] == "2/3"
                   and b["bank"]["missing"] == ["teller-1"], "bank missing teller-1")
        assert srv.ctl("wait", "bank", "--members", tellers, "--member", "teller-1").returncode == 0
        assert m1.wait(10) == 0 and m3.wait(10) == 0
        page_shows(browser, lambda b: b["bank"]["count"] == "0/3"
                   and "generation 1" in b["bank"]["meta"], "bank released")
        # nothing but the page's own origin was asked for
        urls = browser.js("return performance.getEntriesByType('resource').map(e => e.name)")
        assert urls and all(u.startswith(srv.http + "/api/") for u in urls), urls


def test_screenshot(browser):
    path = os.environ.get("BARRIERD_SCREENSHOT")
    if not path:
        pytest.skip("set BARRIERD_SCREENSHOT=FILE to save a screenshot of the page")
    with Server() as srv:
        ps = [srv.ctl_bg("wait", "nightly-etl", "-n", "4", "--name", f"worker-{i}")
              for i in range(1, 4)]
        ps += [srv.ctl_bg("wait", "deploy-eu", "-n", "5", "--name", f"host-{i}")
               for i in (1, 2)]
        ps += [srv.ctl_bg("wait", "bank", "--members", "teller-1,teller-2,teller-3",
                          "--member", f"teller-{i}") for i in (1, 3)]
        srv.ctl("wait", "canary", "-n", "2", "-t", "0.05", "--name", "canary-a")
        stop = []

        def tick():  # a busy barrier: releases per second
            r = Raw(srv.port)
            g = 0
            while not stop and g < 100000:
                r.send(op="wait", barrier="tick", parties=1, id=g)
                r.event()
                g += 1
                time.sleep(0.004)
            r.close()

        t = threading.Thread(target=tick)
        t.start()
        browser.go(srv.http + "/")
        time.sleep(3.5)
        page_shows(browser, lambda b: "nightly-etl" in b and b["nightly-etl"]["count"] == "3/4",
                   "the scene")
        browser.screenshot(path)
        stop.append(1)
        t.join(10)
        for p in ps:
            p.kill()
            p.wait()
