#!/usr/bin/env python3
"""Writes server/layout/hot-functions.txt: the functions a running Warden executes, hottest part first.

`make link-order` runs this. The release build (server/build.rs) hands the list to the linker, which
places those functions together at the start of `.text`. A Warden that mostly waits then keeps a few
MiB of its code resident instead of nearly all of it: the kernel maps code in large blocks around every
page a program touches (64 KiB fault-around, or whole large folios of the page cache: up to 2 MiB with
this VM's 8 MiB read-ahead), so scattered hot code drags cold code in with it.

The profile is taken from the release binary running under valgrind's callgrind (an exact list of the
functions executed, not a sample), through the scenarios below, each becoming one section of the list
(sorted by name within it, so that a new profile changes only the lines of functions that came or went):

1. appliance: start-up, log in, 200 services (one of them writing a log line every 100 ms), each kind
   of service read, the process list, a log tail, soft and hard restarts, stop/start, settings and
   events, then 15 s idle (supervision, usage sampling, the store's flusher);
2. firewall (as root only, in a network namespace of its own): a Warden managing its nftables table:
   start-up, a rule added, applied with a confirmation, removed and applied again, failed logins;
3. shutdown of run 1;
4. ui: every page rendered on the server with a session cookie, the assets fetched.

Symbol names depend on the build (crate versions, features, toolchain) but not on the list's content,
so one profile of the current binary is enough; `tests/tests/release_layout.rs` fails once the list no
longer matches the release build.

Usage: server/layout/profile.py [--binary target/release/warden] [--out server/layout/hot-functions.txt]
"""

import argparse
import collections
import http.cookiejar
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

PASSWORD = "layout-profile-password-1"
SERVICES = 200


def fail(message):
    print(f"profile.py: {message}", file=sys.stderr)
    sys.exit(1)


class Client:
    """The REST API and the server-rendered pages of one Warden, logged in as admin."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.token = None

    def request(self, method, path, body=None, expect_error=False, timeout=120):
        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, method=method, data=data, headers=headers)
        try:
            with self.opener.open(req, timeout=timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            if expect_error:
                return None
            fail(f"{method} {path}: HTTP {e.code}: {e.read()[:300]!r}")
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def login(self):
        reply = self.request("POST", "/api/v1/auth/login", {"username": "admin", "password": PASSWORD})
        self.token = reply["token"]

    def page(self, path):
        """A page as a browser loads it: with the session cookie, no token."""
        req = urllib.request.Request(self.base + path, headers={"accept": "text/html", "accept-encoding": "br"})
        with self.opener.open(req, timeout=120) as r:
            return r.read()


def wait_healthy(base, proc=None, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            fail(f"warden exited during start-up with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    fail("warden did not become healthy")


def callgrind(binary, out, args, netns=None):
    cmd = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no",
        "--compress-strings=no", "--compress-pos=no", "--demangle=no", binary, "serve", *args,
    ]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    env = dict(os.environ, WARDEN_ADMIN_PASSWORD=PASSWORD)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(out + ".log", "w"))


def dump(proc):
    """Closes one section of the profile: callgrind writes `<out>.<n>` with the costs so far."""
    subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)


def stop(proc, timeout=300):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("warden did not stop within 300 s of SIGTERM")


def appliance(api):
    api.login()
    for i in range(SERVICES):
        api.request("POST", "/api/v1/services", {"name": f"s{i}", "command": "exec sleep 987603"})
    chatty = api.request("POST", "/api/v1/services", {
        "name": "chatty",
        "command": "while :; do echo \"$(date) a log line\"; sleep 0.1; done",
        "environment": {"LANG": "C"},
    })
    sid = chatty["id"]
    api.request("GET", "/api/v1/services")
    api.request("GET", f"/api/v1/services/{sid}")
    api.request("GET", f"/api/v1/services/{sid}/processes")
    time.sleep(2)
    api.request("GET", f"/api/v1/services/{sid}/logs?lines=100")
    api.request("POST", f"/api/v1/services/{sid}/restart")
    api.request("POST", f"/api/v1/services/{sid}/restart?mode=hard")
    api.request("POST", f"/api/v1/services/{sid}/stop")
    api.request("POST", f"/api/v1/services/{sid}/start")
    api.request("PATCH", f"/api/v1/services/{sid}", {"environment": {"LANG": "C.UTF-8"}})
    api.request("GET", "/api/v1/settings")
    api.request("GET", "/api/v1/firewall/rules")
    api.request("GET", "/api/v1/firewall/bans")
    time.sleep(15)


def firewall(api):
    api.login()
    api.request("GET", "/api/v1/firewall")
    rule = api.request("POST", "/api/v1/firewall/rules", {
        "action": "accept", "direction": "in", "protocol": "tcp", "ports": ["8300"],
        "hosts": ["192.0.2.0/24"], "ip_version": "any", "annotation": "layout profile",
    })
    api.request("GET", "/api/v1/firewall/rules")
    api.request("POST", "/api/v1/firewall/apply", {"confirm_within_secs": 60})
    api.request("POST", "/api/v1/firewall/confirm")
    api.request("GET", "/api/v1/firewall/ruleset")
    api.request("GET", "/api/v1/firewall/exposure")
    api.request("DELETE", f"/api/v1/firewall/rules/{rule['id']}")
    api.request("POST", "/api/v1/firewall/apply", {"confirm_within_secs": 0})
    bad = Client(api.base)
    for _ in range(3):
        bad.request("POST", "/api/v1/auth/login", {"username": "admin", "password": "wrong"}, expect_error=True)
    api.request("GET", "/api/v1/firewall/bans")
    time.sleep(10)


UI_PAGES = ["/login", "/", "/services", "/services/chatty", "/firewall", "/firewall/jails", "/settings",
            "/users", "/logs", "/audit", "/import"]


def ui(api):
    for path in UI_PAGES:
        html = api.page(path)
        if path == "/settings":
            for asset in sorted(set(part.split('"')[0] for part in html.decode().split('href="/pkg/')[1:]))[:5]:
                api.page("/pkg/" + asset)


def read_profile(path, binary_name):
    """Self cost per function of the binary itself, from one callgrind output file."""
    cost = collections.Counter()
    in_binary, fn, after_call = False, None, False
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("ob="):
                in_binary = os.path.basename(line[3:].strip()) == binary_name
            elif line.startswith("fn="):
                fn, after_call = line[3:].strip(), False
                if in_binary:
                    cost[fn] += 0
            elif line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() and fn and in_binary:
                if after_call:
                    after_call = False  # the inclusive cost of a call, not this function's own
                    continue
                parts = line.split()
                if len(parts) > 1:
                    cost[fn] += int(parts[1])
    return cost


def defined_functions(binary):
    out = subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True, text=True).stdout
    return {p[2] for p in (line.split() for line in out.splitlines()) if len(p) == 3 and p[1] in "tTwW"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    parser.add_argument("--binary", default=os.path.join(root, "target/release/warden"))
    parser.add_argument("--out", default=os.path.join(here, "hot-functions.txt"))
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control", "nm"):
        if not shutil.which(tool):
            fail(f"`{tool}` is missing (`make link-order` installs valgrind and binutils)")
    if not os.path.isfile(args.binary):
        fail(f"{args.binary} is missing: build it first (`cargo build --release -p warden`)")
    binary = os.path.abspath(args.binary)
    site = os.path.join(root, "target/site")
    work = tempfile.mkdtemp(prefix="warden-layout-")
    sections = []  # (name, [callgrind files])
    try:
        # Run 1: the appliance, the UI, shutdown.
        out = os.path.join(work, "main.out")
        port = 18631
        base = f"http://127.0.0.1:{port}"
        proc = callgrind(binary, out, ["--listen", f"127.0.0.1:{port}", "--data-dir", os.path.join(work, "data"),
                                       "--firewall", "off", "--site-root", site])
        try:
            wait_healthy(base, proc)
            api = Client(base)
            appliance(api)
            dump(proc)
            ui(api)
            dump(proc)
        finally:
            stop(proc)
        sections += [("appliance", [out + ".1"]), ("shutdown", [out]), ("ui", [out + ".2"])]

        # Run 2: the firewall live, in a namespace of its own (root only).
        if os.geteuid() == 0 and shutil.which("ip") and shutil.which("nft"):
            ns = f"wdn-layout-{os.getpid()}"
            subprocess.run(["ip", "netns", "add", ns], check=True)
            try:
                subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
                fw_out = os.path.join(work, "firewall.out")
                proc = callgrind(binary, fw_out, ["--listen", f"127.0.0.1:{port}", "--data-dir",
                                                  os.path.join(work, "fw-data"), "--firewall", "on",
                                                  "--site-root", site], netns=ns)
                try:
                    # The driver runs inside the namespace too: its loopback is the namespace's.
                    drive = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
                                            "--drive-firewall", base], check=False)
                    if drive.returncode != 0:
                        fail("the firewall scenario failed")
                finally:
                    stop(proc)
                sections.insert(1, ("firewall", [fw_out]))
            finally:
                subprocess.run(["ip", "netns", "delete", ns], check=False)
        else:
            print("profile.py: not root (or no ip/nft): the firewall scenario is left out", file=sys.stderr)

        defined = defined_functions(binary)
        seen, lines = set(), []
        name = os.path.basename(binary)
        for section, files in sections:
            cost = collections.Counter()
            for f in files:
                cost.update(read_profile(f, name))
            # By name within a section, not by cost: the list then changes only by the functions
            # that came or went between two profiles (costs differ a little from run to run).
            new = sorted(fn for fn in cost if fn in defined and fn not in seen)
            seen.update(new)
            lines += new
            print(f"{section}: {len(new)} functions", file=sys.stderr)
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"wrote {args.out}: {len(lines)} functions; the next release build lays them out first", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--drive-firewall":
        base = sys.argv[2]
        wait_healthy(base)  # started by the parent, outside this namespace driver
        firewall(Client(base))
    else:
        main()
