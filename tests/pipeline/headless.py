"""Open a page in headless Chromium over the DevTools protocol (a pipe, no network port) and
collect console errors, page measurements and a screenshot. Used by the report test."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--remote-debugging-pipe", "--enable-logging=stderr",
         "--v=0", "--mute-audio"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab; ``evaluate`` returns a JS value, ``errors`` the console errors and exceptions."""

    def __init__(self, exe: str, profile: Path, width: int = 1400, height: int = 1000) -> None:
        self._r_in, self._w_in = os.pipe()  # we write -> chromium fd 3
        self._r_out, self._w_out = os.pipe()  # chromium fd 4 -> we read
        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            pass_fds=tuple(sorted({3, 4, self._r_in, self._w_out})), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, preexec_fn=self._map_fds)
        os.close(self._r_in)
        os.close(self._w_out)
        self._buf = b""
        self._id = 0
        self.errors: list[str] = []
        self.events: list[dict] = []
        try:
            tid = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=tid, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable", session=True)
            self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()  # never leave the browser running
            raise

    def _map_fds(self) -> None:  # in the child: the pipe ends become fds 3 and 4
        os.dup2(self._r_in, 3)
        os.dup2(self._w_out, 4)

    def _send(self, msg: dict) -> None:
        os.write(self._w_in, json.dumps(msg).encode() + b"\0")

    def _recv(self, timeout: float) -> dict:
        import select

        end = time.time() + timeout
        while b"\0" not in self._buf:
            left = end - time.time()
            if left <= 0 or not select.select([self._r_out], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._r_out, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        msg = json.loads(raw)
        self._note(msg)
        return msg

    def _note(self, msg: dict) -> None:
        m, p = msg.get("method"), msg.get("params", {})
        if m:
            self.events.append(msg)
        if m == "Runtime.exceptionThrown":
            self.errors.append(p["exceptionDetails"].get("text", "exception") + " "
                               + str(p["exceptionDetails"].get("exception", {}).get("description", "")))
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            self.errors.append(p["entry"].get("text", ""))

    def call(self, method: str, session: bool = False, timeout: float = 60.0, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self._send(msg)
        while True:
            r = self._recv(timeout)
            if r.get("id") == self._id:
                if "error" in r:
                    raise RuntimeError(f"{method}: {r['error']}")
                return r.get("result", {})

    def open(self, url: str, timeout: float = 60.0) -> None:
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        end = time.time() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self._recv(max(0.1, end - time.time()))
        time.sleep(0.5)  # let late errors (media decode) arrive
        self.evaluate("1")

    def evaluate(self, expr: str):
        r = self.call("Runtime.evaluate", session=True, expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluate {expr!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        h = int(self.evaluate("document.documentElement.scrollHeight"))
        w = int(self.evaluate("document.documentElement.scrollWidth"))
        r = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True,
                      clip={"x": 0, "y": 0, "width": w, "height": min(h, 12000), "scale": 1})
        path.write_bytes(base64.b64decode(r["data"]))
        return path

    def close(self) -> str:
        if self.proc.poll() is None:
            try:
                self.call("Browser.close", timeout=10)
            except Exception:
                pass
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        for fd in (self._w_in, self._r_out):
            try:
                os.close(fd)
            except OSError:
                pass
        return err.decode(errors="replace") if err else ""
