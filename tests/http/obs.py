"""What the tests of barrierd's observability share: a barrierd with --http on
loopback, its addresses from the ready file, HTTP with urllib, the protocol
over a raw socket, barrierctl. Every wait is bounded."""
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BARRIERD = os.environ.get("BARRIERD") or os.path.join(TOP, "build", "server", "barrierd")
BARRIERCTL = os.environ.get("BARRIERCTL") or os.path.join(TOP, "build", "client", "barrierctl",
                                                          "barrierctl")


class Server:
    """barrierd on 127.0.0.1:0 with --http 127.0.0.1:0 (unless http=False)."""

    def __init__(self, *args, http=True, listen="127.0.0.1:0"):
        self.dir = tempfile.mkdtemp(prefix="bd-obs-")
        ready = os.path.join(self.dir, "ready")
        self.log_path = os.path.join(self.dir, "barrierd.log")
        argv = [BARRIERD, "--listen", listen, "--ready-file", ready, *args]
        if http:
            argv += ["--http", "127.0.0.1:0"]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not os.path.exists(ready):
            if self.proc.poll() is not None:
                raise RuntimeError(f"barrierd exited with {self.proc.returncode}: {self.log_text()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("barrierd did not become ready in 30 s")
            time.sleep(0.01)
        with open(ready) as f:
            lines = [l.strip() for l in f if l.strip()]
        self.addr = lines[0]
        https = [l for l in lines if l.startswith("http://")]
        self.http = https[0] if https else None
        self.port = int(self.addr.rsplit(":", 1)[1])

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, etype, *exc):
        rc = self.stop()
        # a clean exit, sanitizers' leak checks included
        assert etype is not None or rc == 0, f"barrierd exited {rc}: {self.log_text()[-3000:]}"

    # ---- HTTP ----
    def get(self, path, headers=None, method="GET", timeout=10):
        """(status, headers, body bytes) of one request."""
        req = urllib.request.Request(self.http + path, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def get_json(self, path, **kw):
        st, _, body = self.get(path, **kw)
        return st, json.loads(body)

    def metrics(self):
        st, hdr, body = self.get("/metrics")
        assert st == 200, body
        return body.decode()

    # ---- barrierctl ----
    def ctl(self, *args, timeout=30, **kw):
        return subprocess.run([BARRIERCTL, "-a", self.addr, *args], capture_output=True,
                              text=True, timeout=timeout, **kw)

    def ctl_bg(self, *args, **kw):
        return subprocess.Popen([BARRIERCTL, "-a", self.addr, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **kw)


def metric(text, name, **labels):
    """The value of one sample of the Prometheus text, or None."""
    want = name
    if labels:
        want += "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, val = line.rpartition(" ")
        if key == want:
            return float(val)
    return None


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Raw:
    """The protocol over a plain socket: send dicts, read lines as dicts."""

    def __init__(self, port, rcvbuf=None):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.connect(("127.0.0.1", port))
        self.s.settimeout(10)
        self.buf = b""

    def send(self, **msg):
        self.s.sendall((json.dumps(msg) + "\n").encode())

    def line(self, timeout=10):
        self.s.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def event(self, timeout=10):
        """The next line that is not a heartbeat."""
        while True:
            m = self.line(timeout)
            if m.get("event") == "heartbeat":
                self.send(op="pong")
                continue
            return m

    def close(self):
        self.s.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
