#!/usr/bin/env python3
"""drive.py - load the fleet dashboard in Debian's headless Chromium through
chromedriver (the W3C WebDriver protocol over HTTP, spoken with the standard
library only: nothing fetched, no package beyond chromium-driver), wait until
the page says it has rendered, and print what the DOM holds as JSON, with the
browser's console entries; keep a screenshot.

usage: drive.py URL SCREENSHOT.png WORKDIR

As root Chromium needs --no-sandbox (its setuid/namespace sandbox refuses
root); as another user the sandbox stays on. The verifier's certificate is
its own CA's: the session accepts it (acceptInsecureCerts), which is what
an operator does once by trusting STATE/tls/ca.pem.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

DEADLINE = 120.0  # generous: many test runners may share two cores

FACTS_JS = r"""
function rows(sel) {
  return Array.prototype.map.call(document.querySelectorAll(sel), function (tr) {
    var d = {};
    Object.keys(tr.dataset).forEach(function (k) { d[k] = tr.dataset[k]; });
    return {data: d, cls: tr.className,
            cells: Array.prototype.map.call(tr.cells, function (td) { return td.textContent; })};
  });
}
var st = document.getElementById('status');
var note = function (id) { var n = document.getElementById(id);
  return n ? {text: n.textContent, available: n.dataset.available || ''} : null; };
return JSON.stringify({
  status: st.dataset.state, statusText: st.textContent,
  violations: Number(st.dataset.violations || '0'),
  viewer: document.getElementById('viewer').textContent,
  hosts: rows('#hosts tbody tr.host'),
  agents: rows('#agents tbody tr.agent'),
  decisions: rows('#decisions tbody tr.decision'),
  denials: rows('#denials tbody tr.decision'),
  alerts: rows('#alerts tbody tr.alert'),
  findings: rows('#posture tbody tr.finding'),
  alertsNote: note('alerts-note'), postureNote: note('posture-note'),
  chartBars: document.querySelectorAll('#chart-decisions rect').length,
  reasonBars: document.querySelectorAll('#chart-reasons rect').length,
  imgs: document.getElementsByTagName('img').length,
  scripts: document.getElementsByTagName('script').length,
  handlers: document.querySelectorAll('[onerror],[onload],[onclick]').length,
  revokeButtons: document.querySelectorAll('button.revoke').length,
  pwned: window.__pwned === 1
});
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=DEADLINE) as r:
            return json.loads(r.read().decode() or "{}")
    except urllib.error.HTTPError as e:
        raise RuntimeError("webdriver %s %s: %s" % (method, path, e.read().decode()[:500]))


def main():
    url, shot, work = sys.argv[1], sys.argv[2], sys.argv[3]
    drv = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"
    browser = "/usr/lib/chromium/chromium" if os.path.exists("/usr/lib/chromium/chromium") \
        else shutil.which("chromium")
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    log = open(os.path.join(work, "chromedriver.log"), "wb")
    proc = subprocess.Popen([drv, "--port=%d" % port, "--allowed-ips=127.0.0.1"],
                            stdout=log, stderr=subprocess.STDOUT)
    sid = None
    try:
        end = time.monotonic() + DEADLINE
        while True:
            try:
                if call(base, "GET", "/status")["value"].get("ready"):
                    break
            except (OSError, RuntimeError, KeyError):
                pass
            if time.monotonic() > end or proc.poll() is not None:
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.1)
        args = ["--headless=new", "--disable-gpu", "--window-size=1400,2400",
                "--user-data-dir=" + os.path.join(work, "chromium-profile"),
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps", "--metrics-recording-only",
                "--no-proxy-server"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "acceptInsecureCerts": True,
            "goog:chromeOptions": {"binary": browser, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"}}}}
        sid = call(base, "POST", "/session", caps)["value"]["sessionId"]
        call(base, "POST", "/session/%s/url" % sid, {"url": url})
        end = time.monotonic() + DEADLINE
        state = ""
        while time.monotonic() < end:
            state = call(base, "POST", "/session/%s/execute/sync" % sid, {
                "script": "var s = document.getElementById('status');"
                          "return s ? s.dataset.state : 'no page';", "args": []})["value"]
            if state in ("ready", "error"):
                break
            time.sleep(0.1)
        facts = json.loads(call(base, "POST", "/session/%s/execute/sync" % sid,
                                {"script": FACTS_JS, "args": []})["value"])
        facts["console"] = [
            {"level": e.get("level"), "message": e.get("message")}
            for e in call(base, "POST", "/session/%s/se/log" % sid, {"type": "browser"})["value"]]
        png = base64.b64decode(call(base, "GET", "/session/%s/screenshot" % sid)["value"])
        os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
        with open(shot + ".tmp", "wb") as f:
            f.write(png)
        os.replace(shot + ".tmp", shot)
        facts["screenshot_bytes"] = len(png)
        print(json.dumps(facts))
    finally:
        if sid is not None:
            try:
                call(base, "DELETE", "/session/%s" % sid)
            except (OSError, RuntimeError):
                pass
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


if __name__ == "__main__":
    main()
