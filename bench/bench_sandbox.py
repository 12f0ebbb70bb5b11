"""How fast the sandbox serves issue-list pages of 100 (the bar: >= 200 pages/s on one core).

The sandbox runs in its own process (one core, as `crosstrack sandbox` does); this process is the
client, reading raw bytes over one keep-alive connection so that it is not the bottleneck (it
does not parse the JSON). Each list is scanned twice: a cold pass (the first request for each
issue since the sandbox started) and a warm pass (the same scan again), and the figures of both
are reported, with the sandbox process's CPU seconds and the machine's load average.

Jira is asked the way crosstrack's Jira connector asks (``connectors/jira``): its JQL
(``changed_since_jql``, creation order), its field list (``BASE_FIELDS`` plus the custom fields
discovered from ``GET /field``), ``expand=changelog`` and its ``maxResults`` (the server caps pages
with fields at 100); Cloud through ``/rest/api/3/search/jql`` with ``nextPageToken``, Data Center
(a second sandbox, ``--flavour datacenter``) through ``/rest/api/2/search`` with ``startAt``.
The sandbox encodes that search's issues at seeding (as the GitHub side encodes its issues), so
its cold pass is the first request for each issue, not its first encoding; a third pass asks
``fields=*all``, which nothing has encoded yet, to show the cost of encoding on demand. RSS is read
after the connector's scans and again at the end.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
PAGE = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(items: int, flavour: str = "cloud") -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.server",
            "--port",
            str(port),
            "--items",
            str(items),
            "--flavour",
            flavour,
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox exited: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("sandbox did not start within 300 s")


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99)}


class _Client:
    """A bare keep-alive HTTP/1.1 client (stdlib http.client): reads bytes, parses nothing.

    httpx spends more time per 400 KB page than the sandbox does, which would measure the client.
    """

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body

    def close(self) -> None:
        self.conn.close()


_NEXT = re.compile(r'<([^>]+)>; rel="next"')
_TOKEN = re.compile(rb'"nextPageToken":"([^"]+)"')


def _scan_github(client: _Client, repo: str, max_pages: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    total_bytes = 0
    path: str | None = (
        f"/github/api/v3/repos/{repo}/issues?state=all&sort=updated&direction=asc&per_page={PAGE}"
    )
    headers = {"Authorization": "token sandbox-token", "Accept": "application/vnd.github+json"}
    while path and len(latencies) < max_pages:
        started = time.perf_counter()
        status, response_headers, body = client.get(path, headers)
        latencies.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"GET {path} -> {status}")
        total_bytes += len(body)
        match = _NEXT.search(response_headers.get("link", ""))
        path = None
        if match:
            parts = urlsplit(match.group(1))
            path = f"{parts.path}?{parts.query}"
    return latencies, total_bytes


_JIRA_AUTH = {
    "Authorization": "Basic " + base64.b64encode(b"tpm@example.com:sandbox-token").decode(),
    "Accept": "application/json",
}
_START_AT = re.compile(rb'"startAt":(\d+),"maxResults":(\d+),"total":(\d+)')


def _connector_request(base: str, cloud: bool, project: str) -> dict[str, Any]:
    """The search parameters crosstrack's Jira connector sends on a full scan of `project`."""
    from connectors.jira import jql
    from connectors.jira.mapping import BASE_FIELDS, discover_fields

    api = "3" if cloud else "2"
    found = httpx.get(f"{base}/jira/rest/api/{api}/field", headers=_JIRA_AUTH).json()
    fieldmap = discover_fields(found)
    return {
        "jql": jql.changed_since_jql([project], None, None),
        "maxResults": 5000 if cloud else 1000,  # the connector's default page_size; the server caps it
        "fields": ",".join((*BASE_FIELDS, *fieldmap.ids())),
        "expand": "changelog",
    }


def _scan_jira_cloud(client: _Client, params: dict[str, Any], max_pages: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    total_bytes = 0
    token: str | None = None
    while len(latencies) < max_pages:
        query = dict(params)
        if token:
            query["nextPageToken"] = token
        path = "/jira/rest/api/3/search/jql?" + urlencode(query)
        started = time.perf_counter()
        status, _, body = client.get(path, _JIRA_AUTH)
        latencies.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"GET {path} -> {status}: {body[:200]!r}")
        total_bytes += len(body)
        # The token sits at the end of the page; a search is enough to go on (no JSON parse).
        match = _TOKEN.search(body, max(0, len(body) - 4096)) or _TOKEN.search(body)
        token = match.group(1).decode() if match else None
        if not token:
            break
    return latencies, total_bytes


def _scan_jira_dc(client: _Client, params: dict[str, Any], max_pages: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    total_bytes = 0
    start = 0
    while len(latencies) < max_pages:
        path = "/jira/rest/api/2/search?" + urlencode({**params, "startAt": start})
        started = time.perf_counter()
        status, _, body = client.get(path, _JIRA_AUTH)
        latencies.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"GET {path} -> {status}: {body[:200]!r}")
        total_bytes += len(body)
        head = _START_AT.search(body, 0, 512)
        if head is None:
            raise RuntimeError(f"GET {path}: no startAt/maxResults/total in {body[:200]!r}")
        # As the connector: the next page starts after the issues this one held.
        start = int(head.group(1)) + int(head.group(2))
        if start >= int(head.group(3)):
            break
    return latencies, total_bytes


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _measure(
    name: str,
    scan: Any,
    client: _Client,
    scope: Any,
    pages: int,
    pid: int,
    labels: tuple[str, ...] = ("cold", "warm"),
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for label in labels:
        load = _load()
        cpu_before = _cpu_s(pid)
        started = time.perf_counter()
        latencies, nbytes = scan(client, scope, pages)
        elapsed = time.perf_counter() - started
        cpu = _cpu_s(pid) - cpu_before
        rate = len(latencies) / elapsed if elapsed else 0.0
        figures[label] = {
            "pages": len(latencies),
            "pages_per_s": round(rate, 1),
            "items_per_s": round(rate * PAGE),
            "mb_per_s": round(nbytes / elapsed / 1e6, 1) if elapsed else 0.0,
            "kb_per_page": round(nbytes / max(1, len(latencies)) / 1e3, 1),
            "sandbox_cpu_s": round(cpu, 2),
            "pages_per_cpu_s": round(len(latencies) / cpu, 1) if cpu else None,
            "load_avg_before": load,
            **_percentiles(latencies),
        }
        print(
            f"   {name:14s} {label}: {len(latencies)} pages of {PAGE} in {elapsed:.2f} s = {rate:.0f} pages/s, "
            f"sandbox CPU {cpu:.2f} s = {figures[label]['pages_per_cpu_s']} pages/CPU-s "
            f"(p50 {figures[label]['p50_ms']} ms, p95 {figures[label]['p95_ms']} ms, p99 {figures[label]['p99_ms']} ms; "
            f"{figures[label]['kb_per_page']} KB/page; load {load})",
            flush=True,
        )
    return figures


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def run(quick: bool = False) -> dict[str, Any]:
    items = 20_000 if quick else 200_000
    pages = 100 if quick else 500
    figures: dict[str, Any] = {"items": items, "page_size": PAGE, "load_avg_start": _load()}
    for flavour in ("cloud", "datacenter"):
        started = time.perf_counter()
        proc, base = _start(items, flavour)
        startup = time.perf_counter() - started
        startup_cpu = _cpu_s(proc.pid)
        print(
            f"   sandbox ({flavour}) with {items:,} items started in {startup:.1f} s "
            f"({startup_cpu:.1f} CPU-s; load {_load()})",
            flush=True,
        )
        figures[f"startup_{flavour}_s"] = round(startup, 1)
        figures[f"startup_{flavour}_cpu_s"] = round(startup_cpu, 1)
        try:
            health = httpx.get(base + "/healthz").json()
            client = _Client(base)
            try:
                if flavour == "cloud":
                    figures["github"] = _measure("github", _scan_github, client, "acme/web", pages, proc.pid)
                name = "jira" if flavour == "cloud" else "jira_dc"
                if "jira" in health.get("worlds", []):
                    params = _connector_request(base, flavour == "cloud", "PAY")
                    figures.setdefault("jira_request", params)
                    scan = _scan_jira_cloud if flavour == "cloud" else _scan_jira_dc
                    figures[name] = _measure(name, scan, client, params, pages, proc.pid)
                    rss_kb = _rss_kb(proc.pid)
                    figures[f"sandbox_rss_{flavour}_after_scans_mb"] = round(rss_kb / 1024)
                    print(f"   sandbox ({flavour}) RSS after the scans {round(rss_kb / 1024)} MB")
                    # The sandbox encodes crosstrack's search at seeding; any other field set is
                    # encoded on its first request: `fields=*all` shows what that costs.
                    other = {**params, "fields": "*all"}
                    figures[f"{name}_all_fields"] = _measure(
                        f"{name} *all", scan, client, other, pages, proc.pid, ("first",)
                    )
                else:
                    figures[name] = {"skipped": health.get("unavailable", {}).get("jira", "not mounted")}
                    print(f"   {name} skipped: {figures[name]['skipped']}")
            finally:
                client.close()
            if flavour == "cloud":
                figures["webhooks"] = _measure_webhooks(base, 300 if quick else 2000)
            rss_kb = _rss_kb(proc.pid)
            if rss_kb:
                figures[f"sandbox_rss_{flavour}_mb"] = round(rss_kb / 1024)
                print(f"   sandbox ({flavour}) RSS at the end {round(rss_kb / 1024)} MB")
        finally:
            _stop(proc)
    figures["load_avg_end"] = _load()
    bar = 200.0
    figures["bar_pages_per_s"] = bar
    figures["meets_bar"] = all(
        figures[t][label]["pages_per_s"] >= bar
        for t in ("github", "jira", "jira_dc")
        if "warm" in figures.get(t, {})
        for label in ("cold", "warm")
    )
    return figures


def _measure_webhooks(base: str, count: int) -> dict[str, Any]:
    """Mutations through the control API (batches of 100), each sending one signed webhook to a
    receiver in this process: how many deliveries a second the sandbox sustains."""
    received = 0
    lock = threading.Lock()

    class Receiver(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            nonlocal received
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            with lock:
                received += 1

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with httpx.Client(base_url=base, timeout=120) as control:
            control.post("/_sandbox/reset")
            url = f"http://127.0.0.1:{server.server_address[1]}/hook"
            control.post("/_sandbox/webhooks", json={"tracker": "github", "url": url, "secret": "bench"})
            started = time.perf_counter()
            for first in range(0, count, 100):
                ops = [{"op": "touch", "key": f"acme/web#{1 + (n % 30)}"} for n in range(first, first + 100)]
                control.post("/_sandbox/mutate", json={"tracker": "github", "ops": ops}).raise_for_status()
            queued = time.perf_counter() - started
            deadline = time.monotonic() + 120
            while received < count and time.monotonic() < deadline:
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
    finally:
        server.shutdown()
        server.server_close()
    rate = received / elapsed if elapsed else 0.0
    print(
        f"   webhooks: {count} mutations queued in {queued:.2f} s, {received} deliveries received in "
        f"{elapsed:.2f} s = {rate:.0f} deliveries/s (one sender thread, signed, in order)",
        flush=True,
    )
    return {
        "mutations": count,
        "delivered": received,
        "mutations_per_s": round(count / queued, 1) if queued else 0.0,
        "deliveries_per_s": round(rate, 1),
    }


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
