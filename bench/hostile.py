"""Hostile bodies against a real `provreg serve`: does `/healthz` keep answering, and does the server give memory back?

    PYTHONPATH=$PWD python bench/hostile.py [--json-mb 300] [--uploads 40] [--bombs 4] [--photo-checks 20] [--label L]

A fresh server (rate limiting off so that everything arrives, scratch data directory, its 2 media workers) gets a few
registered originals. Then, together: one anonymous JSON batch of `--json-mb` MB of valid hash items sent chunked (no
Content-Length, so only streaming can refuse it early), and `--uploads` concurrent `POST /v1/check` of a 29 MB
progressive JPEG with 100 scans (legal but costly; anonymous, or with `--keyed-uploads` carrying a publisher's API
key, so that they are held to the authenticated caps, not refused by the anonymous ones). Meanwhile `/healthz` is
probed every 50 ms from a process of its own, open loop: each probe counts from when it was due, so a frozen server
shows in every probe it held up. The attacking threads run at nice 10, so that they do not outrun the server for
the shared cores. It reports `/healthz` p50/p99/worst during the attack, every answer's status (5xx counted), how
much of the JSON body the server read before answering and how, the API process's CPU time, and its resident memory
(without its media workers) idle, at its peak, right after and 15 s after the burst. `--bombs` anonymous video bombs
(a `--bomb-seconds` 4K 60 fps solid-colour MP4, 83 kB for 60 s, made once with FFmpeg and cached in the temporary
directory) arrive
with the uploads, from a client address of their own.

The photo phase (`--photo-checks N`, before the attack): N full checks of a re-encoded registered photo, one at a
time, from a client address of their own (127.0.0.2), first idle, then while 2 bomb senders (one anonymous address,
127.0.0.3) each send a bomb again as soon as the last one is answered; p50/p95 of each and their ratio. Results go
to bench/results/hostile_<label>.json.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import multiprocessing
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import _threads  # noqa: F401 - pins the numeric libraries to one thread before they load
import httpx2
from _common import machine_info, percentile, print_table, write_json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from api.client import HttpTransport, PublisherClient
from bench.load import running_server, scan_heavy_jpeg, server_rss_mb
from registry.keys import raw_public_key

RESULTS = Path(__file__).resolve().parent / "results"
PHOTOS = Path(__file__).resolve().parent.parent / "tests" / "data"
ORIGINALS = ("astronaut", "coffee", "rocket")
HEALTH_EVERY_S = 0.05
SETTLE_S = 15.0
PROBER_START_S = 120.0
PROBERS = 64
JSON_CHUNK = 256 * 1024
SERVER_ERRORS = {"500", "502", "504"}  # 503 `overloaded` is the documented answer of a full media pool
BOMB = ("3840x2160", 60)  # size, frames per second: one solid colour, about 83 kB a minute as H.264
PHOTO_CLIENT, BOMB_CLIENT = "127.0.0.2", "127.0.0.3"  # loopback addresses: distinct clients to the server
PHOTO_BOMBS = 2


def video_bomb(seconds: int) -> bytes:
    """The video bomb, encoded once (it takes minutes of CPU) and kept in the temporary directory."""
    size, fps = BOMB
    path = Path(tempfile.gettempdir()) / f"provreg-bench-bomb-{size}-{fps}fps-{seconds}s.mp4"
    if not path.exists():
        import imageio_ffmpeg

        partial = path.with_suffix(".partial.mp4")
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi"]
        command += ["-i", f"color=c=0x3070b0:s={size}:r={fps}", "-t", str(seconds), "-c:v", "libx264"]
        command += ["-preset", "ultrafast", "-g", str(fps * seconds), "-threads", "1", "-pix_fmt", "yuv420p"]
        subprocess.run([*command, str(partial)], check=True)
        partial.rename(path)
    return path.read_bytes()


def client_at(base: str, address: str, timeout: float = 600) -> httpx2.Client:
    """A client whose connections come from `address` (any 127.0.0.0/8 address is this machine's)."""
    return httpx2.Client(base_url=base, timeout=timeout, transport=httpx2.HTTPTransport(local_address=address))


def send_bomb(http: httpx2.Client, bomb: bytes) -> str:
    try:
        return str(http.post("/v1/check", files={"file": ("bomb.mp4", bomb, "video/mp4")}).status_code)
    except httpx2.TransportError as exc:
        return type(exc).__name__


def photo_phase(base: str, checks: int, bomb: bytes) -> dict[str, Any]:
    """A photo check's latency idle and while PHOTO_BOMBS bomb senders keep bombs running (see the docstring)."""
    photo = io.BytesIO()
    Image.open(PHOTOS / f"{ORIGINALS[0]}.jpg").convert("RGB").resize((400, 400)).save(photo, "JPEG", quality=70)
    query = photo.getvalue()

    def timed(http: httpx2.Client, count: int) -> list[float]:
        seconds = []
        for _ in range(count):
            start = time.perf_counter()
            response = http.post("/v1/check", files={"file": ("photo.jpg", query, "image/jpeg")})
            seconds.append(time.perf_counter() - start)
            if response.status_code != 200 or response.json()["verdict"] == "unregistered":
                raise SystemExit(f"the photo check failed: {response.status_code} {response.text[:300]}")
        return seconds

    load_before = [round(load, 2) for load in os.getloadavg()]
    with client_at(base, PHOTO_CLIENT) as http:
        timed(http, 2)  # warm: the first checks load what a worker keeps
        idle = timed(http, checks)
        stop = threading.Event()
        statuses: Counter[str] = Counter()
        lock = threading.Lock()

        def bomber() -> None:
            with client_at(base, BOMB_CLIENT) as bombs:
                while not stop.is_set():
                    status = send_bomb(bombs, bomb)
                    with lock:
                        statuses[status] += 1

        senders = [threading.Thread(target=bomber) for _ in range(PHOTO_BOMBS)]
        for sender in senders:
            sender.start()
        time.sleep(2.0)  # the bombs are in the workers (or refused) before the first timed check
        loaded = timed(http, checks)
        stop.set()
        for sender in senders:
            sender.join()
    idle_p95, loaded_p95 = percentile(idle, 95), percentile(loaded, 95)
    return {
        "checks": checks,
        "idle_p50_s": round(percentile(idle, 50), 3),
        "idle_p95_s": round(idle_p95, 3),
        "with_bombs_p50_s": round(percentile(loaded, 50), 3),
        "with_bombs_p95_s": round(loaded_p95, 3),
        "with_bombs_worst_s": round(max(loaded), 3),
        "p95_ratio": round(loaded_p95 / idle_p95, 2),
        "bomb_statuses": dict(statuses),
        "bomb_bytes": len(bomb),
        "load_average_before_after": [load_before, [round(load, 2) for load in os.getloadavg()]],
    }


def print_photo(photo: dict[str, Any]) -> None:
    print_table(
        f"photo check, {photo['checks']} one at a time, idle and beside {PHOTO_BOMBS} bomb senders",
        ["figure", "value"],
        [
            ["idle p50 / p95 s", f"{photo['idle_p50_s']} / {photo['idle_p95_s']}"],
            [
                "with bombs p50 / p95 / worst s",
                f"{photo['with_bombs_p50_s']} / {photo['with_bombs_p95_s']} / {photo['with_bombs_worst_s']}",
            ],
            ["p95 ratio (target <= 3)", photo["p95_ratio"]],
            ["bomb statuses", photo["bomb_statuses"]],
            ["load average before / after", " / ".join(str(load) for load in photo["load_average_before_after"])],
        ],
    )


def newsroom(base: str, admin_token: str) -> tuple[PublisherClient, str]:
    """A verified publisher's client, and its API key for the keyed uploads."""
    key = Ed25519PrivateKey.generate()
    body = {
        "name": "Hostile Bench Desk",
        "public_key": base64.b64encode(raw_public_key(key)).decode(),
        "verification": {"method": "bench", "verified_by": "bench/hostile.py"},
    }
    response = httpx2.post(f"{base}/v1/publishers", json=body, headers={"Authorization": f"Bearer {admin_token}"})
    response.raise_for_status()
    created = response.json()
    transport = HttpTransport.connect(base, created["api_key"], timeout_s=120)
    return PublisherClient(transport, publisher_id=created["id"], private_key=key), created["api_key"]


def process_cpu_s(pid: int) -> float:
    """CPU time `pid` has used (user and system, its own threads, not its children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_rss_mb(pid: int) -> float:
    """Resident memory of `pid` alone (the API process, not its media workers), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def json_batch_chunks(total_bytes: int) -> tuple[bytes, bytes, int]:
    """One chunk of valid hash items (`{"pdq": ...}`, comma-separated) and how many chunks make `total_bytes`."""
    item = b'{"pdq":"' + b"5a" * 32 + b'"},'
    chunk = item * (JSON_CHUNK // len(item))
    return b"[", chunk, max(1, total_bytes // len(chunk))


def send_json_batch(base: str, total_bytes: int) -> dict[str, Any]:
    """POST the batch chunked on a raw socket, reading the answer beside the upload: when the server answers and
    stops reading, how many bytes it had taken, and its first and last lines."""
    host, port = base.removeprefix("http://").split(":")
    opening, chunk, count = json_batch_chunks(total_bytes)
    closing = chunk[:-1] + b"]"  # the last chunk ends the list
    sock = socket.create_connection((host, int(port)))
    head = (
        f"POST /v1/check/batch?mode=fast HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = bytearray()
    answered_after: list[float] = []
    started = time.monotonic()

    def read() -> None:
        with contextlib.suppress(OSError):  # a server that answered and closed may reset the connection
            while data := sock.recv(65536):
                if not answer:
                    answered_after.append(time.monotonic() - started)
                answer.extend(data)

    reader = threading.Thread(target=read)
    reader.start()
    sent, error = 0, None
    try:
        sock.sendall(head)
        for n, body in enumerate([opening, *[chunk] * (count - 1), closing]):
            sock.sendall(b"%x\r\n" % len(body) + body + b"\r\n")
            sent += len(body)
            if n % 64 == 0 and not reader.is_alive():
                break
        sock.sendall(b"0\r\n\r\n")
    except OSError as exc:
        error = type(exc).__name__
    finished_sending = time.monotonic() - started
    reader.join(timeout=600)
    sock.close()
    status_line, _, rest = bytes(answer).partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in headers.lower():
        body = dechunk(body)
    lines = body.splitlines()
    return {
        "status": status_line.decode(errors="replace"),
        "bytes_offered": count * len(chunk),
        "bytes_sent_before_stop": sent,
        "send_error": error,
        "first_answer_s": round(answered_after[0], 2) if answered_after else None,
        "stopped_sending_s": round(finished_sending, 2),
        "answer_lines": len(lines),
        "first_line": lines[0][:300].decode(errors="replace") if lines else body[:300].decode(errors="replace"),
        "last_line": lines[-1][:300].decode(errors="replace") if lines else None,
    }


def dechunk(data: bytes) -> bytes:
    """The body of a chunked HTTP answer (as much of it as arrived)."""
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        out += data[:size]
        data = data[size + 2 :]
        if size == 0:
            break
    return bytes(out)


def probe_health(base: str, pid: int, stop: EventType, results: Connection) -> None:
    """In a process of its own (the attackers' threads would hold its GIL otherwise): probe `/healthz` open loop, a
    probe due every HEALTH_EVERY_S whether or not the last one has answered, each counted from when it was due, so a
    frozen server shows in every probe it held up, not in one. Sends back (due, ms, ok) per probe and the server's
    peak RSS."""
    probes: list[tuple[float, float, bool]] = []
    peak_rss = process_rss_mb(pid)
    lock = threading.Lock()

    def probe(http: httpx2.Client, due: float) -> None:
        try:
            ok = http.get("/healthz").status_code == 200
        except httpx2.TransportError:
            ok = False
        with lock:
            probes.append((due, (time.monotonic() - due) * 1000, ok))

    limits = httpx2.Limits(max_connections=PROBERS, max_keepalive_connections=PROBERS)
    with httpx2.Client(base_url=base, timeout=120, limits=limits) as http, ThreadPoolExecutor(PROBERS) as probers:
        http.get("/healthz").raise_for_status()
        results.send("ready")  # its interpreter may take seconds to start on a busy machine: the attack waits
        due = time.monotonic()
        while not stop.is_set():
            probers.submit(probe, http, due)
            peak_rss = max(peak_rss, process_rss_mb(pid))
            due += HEALTH_EVERY_S
            stop.wait(max(0.0, due - time.monotonic()))
    results.send((probes, peak_rss))


def attack(
    base: str,
    pid: int,
    json_bytes: int,
    uploads: int,
    costly: bytes,
    upload_headers: dict[str, str],
    bombs: int,
    bomb: bytes,
) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    bomb_statuses: Counter[str] = Counter()
    batch: dict[str, Any] = {}
    lock = threading.Lock()
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    receiving, sending = context.Pipe(duplex=False)
    prober = context.Process(target=probe_health, args=(base, pid, stop, sending), name="healthz-prober")
    prober.start()
    sending.close()  # the prober's end only: if it dies, `recv` here raises EOFError instead of waiting forever

    def yield_cpu() -> None:
        """The attacking threads share the machine's cores with the server and the probes: they yield to both (nice
        10, this thread only on Linux), so what is measured is the server's answer, not its race with the client."""
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)

    def upload() -> None:
        yield_cpu()
        with httpx2.Client(base_url=base, timeout=600) as http:
            try:
                files = {"file": ("b.jpg", costly, "image/jpeg")}
                status = str(http.post("/v1/check", files=files, headers=upload_headers).status_code)
            except httpx2.TransportError as exc:
                status = type(exc).__name__
        with lock:
            statuses[status] += 1

    def json_batch() -> None:
        yield_cpu()
        batch.update(send_json_batch(base, json_bytes))

    def send_one_bomb() -> None:
        yield_cpu()
        with client_at(base, BOMB_CLIENT) as http:
            status = send_bomb(http, bomb)
        with lock:
            bomb_statuses[status] += 1

    try:
        ready = receiving.poll(PROBER_START_S) and receiving.recv() == "ready"
    except EOFError:  # it died (its own first /healthz failed, say)
        ready = False
    if not ready:
        prober.kill()
        raise SystemExit(f"the /healthz prober did not start within {PROBER_START_S:g} s")
    time.sleep(1.0)
    started = time.monotonic()
    cpu_before = process_cpu_s(pid)
    threads = [threading.Thread(target=json_batch)] if json_bytes else []
    threads += [threading.Thread(target=upload) for _ in range(uploads)]
    threads += [threading.Thread(target=send_one_bomb) for _ in range(bombs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    cpu = process_cpu_s(pid) - cpu_before
    stop.set()
    probes, peak_rss = receiving.recv()
    prober.join()
    probes = [(due, ms, ok) for due, ms, ok in probes if due >= started]  # the attack's, not the prober's warm-up
    health = [ms for _, ms, _ in probes]
    worst_by_second: dict[int, float] = {}
    for due, ms, _ in probes:
        second = int(due - started)
        worst_by_second[second] = round(max(worst_by_second.get(second, 0.0), ms), 1)
    batch_status = batch.get("status", "").split(" ")[1:2]
    answers = [*statuses.items(), *bomb_statuses.items(), *((s, 1) for s in batch_status)]
    fives = sum(n for status, n in answers if status in SERVER_ERRORS)
    return {
        "seconds": round(seconds, 1),
        "api_cpu_seconds": round(cpu, 2),
        "healthz": {
            "polls": len(health),
            "p50_ms": round(percentile(health, 50), 1),
            "p99_ms": round(percentile(health, 99), 1),
            "worst_ms": round(max(health), 1),
            "failures": sum(not ok for _, _, ok in probes),
            "worst_ms_by_second_of_the_attack": worst_by_second,
        },
        "uploads": {"count": uploads, "bytes_each": len(costly), "statuses": dict(statuses)},
        "video_bombs": {"count": bombs, "bytes_each": len(bomb), "statuses": dict(bomb_statuses)},
        "json_batch": batch,
        "unexpected_5xx": fives,
        "api_rss_peak_mb": peak_rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json-mb", type=float, default=300, help="0: no JSON batch")
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument(
        "--keyed-uploads", action="store_true", help="send the uploads with a publisher's API key (its higher caps)"
    )
    parser.add_argument("--bombs", type=int, default=4, help="anonymous video bombs that arrive with the uploads")
    parser.add_argument("--photo-checks", type=int, default=20, help="0: no photo phase")
    parser.add_argument(
        "--bomb-seconds", type=int, default=60, help="the bomb's length: 60 s declares 30 G pixels, 30 s 15 G"
    )
    parser.add_argument("--label", default="run")
    args = parser.parse_args()
    admin_token = secrets.token_urlsafe(32)
    costly = scan_heavy_jpeg(100)
    bomb = video_bomb(args.bomb_seconds)
    with (
        tempfile.TemporaryDirectory(prefix="provreg-hostile-") as scratch,
        running_server(Path(scratch) / "data", admin_token) as (base, server),
    ):
        client, api_key = newsroom(base, admin_token)
        for name in ORIGINALS:
            client.register((PHOTOS / f"{name}.jpg").read_bytes(), {"title": name})
        with httpx2.Client(base_url=base, timeout=30) as http:
            idle = []
            for _ in range(40):
                start = time.perf_counter()
                http.get("/healthz").raise_for_status()
                idle.append((time.perf_counter() - start) * 1000)
                time.sleep(HEALTH_EVERY_S)
        rss_idle = process_rss_mb(server.pid)
        load_before = [round(load, 2) for load in os.getloadavg()]
        client.transport.close()
        photo = photo_phase(base, args.photo_checks, bomb) if args.photo_checks else None
        if photo is not None and not (args.json_mb or args.uploads or args.bombs):  # the photo phase alone
            path = RESULTS / f"hostile_{args.label}.json"
            machine = machine_info(["fastapi", "uvicorn"])
            write_json(path, {"machine": machine, "config": vars(args), "photo_check": photo})
            print_photo(photo)
            return
        upload_headers = {"Authorization": f"Bearer {api_key}"} if args.keyed_uploads else {}
        result = attack(
            base, server.pid, int(args.json_mb * 1e6), args.uploads, costly, upload_headers, args.bombs, bomb
        )
        rss_after = process_rss_mb(server.pid)
        time.sleep(SETTLE_S)
        rss_settled = process_rss_mb(server.pid)
        tree_settled = server_rss_mb(server.pid)
        load_after = [round(load, 2) for load in os.getloadavg()]
    report = {
        "machine": machine_info(["fastapi", "uvicorn", "starlette"]),
        "config": vars(args),
        "load_average_before_after": [load_before, load_after],
        "healthz_idle_p99_ms": round(percentile(idle, 99), 1),
        "photo_check": photo,
        **result,
        "api_rss_mb": {
            "idle": rss_idle,
            "peak": result.pop("api_rss_peak_mb"),
            "right_after": rss_after,
            f"after_{SETTLE_S:g}_s": rss_settled,
        },
        "media_workers_rss_mb_settled": round(tree_settled - rss_settled, 1),
    }
    path = RESULTS / f"hostile_{args.label}.json"
    write_json(path, report)
    batch = report["json_batch"]
    print_table(
        f"{args.json_mb:g} MB JSON batch + {args.uploads} x {len(costly) / 1e6:.0f} MB costly uploads"
        + (" (with an API key)" if args.keyed_uploads else ", anonymous"),
        ["figure", "value"],
        [
            ["/healthz p50 / p99 / worst ms", "{p50_ms} / {p99_ms} / {worst_ms}".format(**report["healthz"])],
            ["/healthz idle p99 ms", report["healthz_idle_p99_ms"]],
            ["upload statuses", report["uploads"]["statuses"]],
            ["video bomb statuses", report["video_bombs"]["statuses"]],
            ["JSON batch answer", f"{batch.get('status')} after {batch.get('first_answer_s')} s"],
            ["JSON bytes sent before the server stopped", f"{batch.get('bytes_sent_before_stop', 0):,}"],
            ["JSON batch last line", (batch.get("last_line") or batch.get("first_line") or "")[:100]],
            ["unexpected 5xx", report["unexpected_5xx"]],
            ["API process CPU s during the attack / wall s", f"{report['api_cpu_seconds']} / {report['seconds']}"],
            ["API RSS MB idle / peak / after / settled", " / ".join(str(v) for v in report["api_rss_mb"].values())],
            ["media workers' RSS MB, settled", report["media_workers_rss_mb_settled"]],
            ["load average before / after", f"{load_before} / {load_after}"],
        ],
    )
    if photo is not None:
        print_photo(photo)
    print(f"\nwritten to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
