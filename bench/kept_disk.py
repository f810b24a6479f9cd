"""What anonymous checks on the web page leave on disk, against a real `provreg serve` on 127.0.0.1.

    PYTHONPATH=$PWD python bench/kept_disk.py large [--checks 3] [--code DIR]
    PYTHONPATH=$PWD python bench/kept_disk.py many [--checks 1000] [--clients 8] [--total-mb 48] [--client-mb 8]

`large`: five near-identical large originals (one 6028x3391 photograph from /usr/share/backgrounds saved as JPEG at
five qualities, 4-10 MB each) and a 1600 px query of it: each check matches all five. Reports the bytes each
anonymous page check keeps, the evidence package's size when downloaded, and their ratio to the upload.

`many`: 24 photographs from /usr/share/backgrounds (1024 px) registered, then `--checks` anonymous page checks from
`--clients` loopback addresses (127.0.0.2, ...), cycling through copies, doctored copies and unregistered photos,
one client after another, with the kept-files caps set to `--total-mb` and `--client-mb` (`large` keeps the
defaults, which it never reaches). After every check the
bench sums what the data directory keeps (every folder but the originals, the index and the log keys) and reports
the largest sum against the cap.

`--code DIR` serves from another checkout (e.g. `git archive main` unpacked) to measure the old behaviour. Results
go to bench/results/kept_disk_<phase>.json (or `--out`).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _threads  # noqa: F401 - pins the numeric libraries to one thread before they load
import httpx2
from _common import machine_info, print_table, write_json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from load import running_server
from PIL import Image, ImageDraw

from api.client import HttpTransport, PublisherClient
from registry.keys import raw_public_key

RESULTS = Path(__file__).resolve().parent / "results"
BACKGROUNDS = Path("/usr/share/backgrounds")
LARGE = BACKGROUNDS / "Kleiber_by_Lukas_Baubkus.jpg"
DURABLE = {"originals", "index", "log-keys"}


def kept_bytes(data_dir: Path) -> int:
    total = 0
    for path in data_dir.rglob("*"):
        parts = path.relative_to(data_dir).parts
        if len(parts) > 1 and parts[0] not in DURABLE:
            with contextlib.suppress(FileNotFoundError):  # evicted or swept while we looked
                total += path.stat().st_size if path.is_file() else 0
    return total


def jpeg(image: Image.Image, quality: int, width: int | None = None) -> bytes:
    if width is not None and image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def publisher(base: str, admin: str) -> PublisherClient:
    key = Ed25519PrivateKey.generate()
    created = httpx2.post(
        f"{base}/v1/publishers",
        headers={"Authorization": f"Bearer {admin}"},
        json={
            "name": "Bench Desk",
            "public_key": base64.b64encode(raw_public_key(key)).decode(),
            "verification": {"method": "bench", "evidence": "", "verified_by": "bench"},
        },
    )
    created.raise_for_status()
    body = created.json()
    transport = HttpTransport.connect(base, body["api_key"], timeout_s=600)
    return PublisherClient(transport, publisher_id=body["id"], private_key=key)


class Browser:
    """One anonymous browser on the page, from its own loopback address."""

    def __init__(self, base: str, address: str) -> None:
        transport = httpx2.HTTPTransport(local_address=address)
        self.client = httpx2.Client(base_url=base, transport=transport, timeout=600)
        page = self.client.get("/")
        self.csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    def check(self, content: bytes) -> tuple[int, str | None]:
        card = self.client.post(
            "/check", params={"partial": "true"}, data={"csrf": self.csrf}, files={"file": ("q.jpg", content)}
        )
        link = re.search(r'href="(/evidence/[^"]+)" download', card.text)
        return card.status_code, None if link is None else link.group(1)


def large(args: argparse.Namespace, base: str, admin: str, data_dir: Path) -> dict[str, Any]:
    photo = Image.open(LARGE).convert("RGB")
    desk = publisher(base, admin)
    sizes = []
    for quality in (98, 96, 94, 92, 90):
        original = jpeg(photo, quality)
        sizes.append(len(original))
        desk.register(original, {"title": f"q{quality}"})
    query = jpeg(photo, 85, width=1600)
    browser = Browser(base, "127.0.0.2")
    per_check, package = [], 0
    for _ in range(args.checks):
        before = kept_bytes(data_dir)
        status, link = browser.check(query)
        assert status == 200 and link is not None, status
        per_check.append(kept_bytes(data_dir) - before)
    downloaded = browser.client.get(link)
    assert downloaded.status_code == 200
    package = len(downloaded.content)
    return {
        "originals_bytes": sizes,
        "query_bytes": len(query),
        "kept_per_check_bytes": per_check,
        "kept_per_check_x_upload": round(max(per_check) / len(query), 1),
        "package_bytes": package,
        "package_x_upload": round(package / len(query), 1),
    }


def scene(path: Path) -> Image.Image:
    image = Image.open(path).convert("RGB")
    image.thumbnail((1024, 1024), Image.Resampling.LANCZOS)
    return image


def many(args: argparse.Namespace, base: str, admin: str, data_dir: Path) -> dict[str, Any]:
    photos = sorted(p for p in BACKGROUNDS.rglob("*.jpg") if p.stat().st_size > 200_000)[:32]
    registered, unregistered = [scene(p) for p in photos[:24]], [scene(p) for p in photos[24:]]
    desk = publisher(base, admin)
    for i, image in enumerate(registered):
        desk.register(jpeg(image, 92), {"title": f"scene {i}"})
    queries = []
    for image in registered:
        doctored = image.copy()
        ImageDraw.Draw(doctored).rectangle(
            (image.width // 3, image.height // 3, image.width // 2, image.height // 2), fill=(200, 30, 30)
        )
        queries += [jpeg(image, 80, width=800), jpeg(doctored, 85)]
    queries += [jpeg(image, 85) for image in unregistered]
    browsers = [Browser(base, f"127.0.0.{2 + i}") for i in range(args.clients)]
    cap = args.total_mb * 1024**2
    peak, statuses, started = 0, {}, time.monotonic()
    for n in range(args.checks):
        status, _ = browsers[n % len(browsers)].check(queries[n % len(queries)])
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        peak = max(peak, kept_bytes(data_dir))
        if n % 50 == 49:
            print(f"{n + 1} checks, {time.monotonic() - started:.0f} s, peak {peak / 1024**2:.1f} MiB", flush=True)
    return {
        "checks": args.checks,
        "clients": args.clients,
        "statuses": statuses,
        "cap_bytes": cap,
        "client_cap_bytes": args.client_mb * 1024**2,
        "peak_kept_bytes": peak,
        "peak_over_cap": round(peak / cap, 3),
        "final_kept_bytes": kept_bytes(data_dir),
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("phase", choices=("large", "many"))
    parser.add_argument("--checks", type=int, default=None)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--total-mb", type=int, default=48)
    parser.add_argument("--client-mb", type=int, default=8)
    parser.add_argument("--code", type=Path, default=None, help="serve from this checkout instead of this one")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.checks = args.checks or (3 if args.phase == "large" else 1000)
    admin = secrets.token_urlsafe(32)
    code = (args.code or Path(__file__).resolve().parent.parent).resolve()
    env = {
        "PYTHONPATH": str(code),
        "PROVREG_MEDIA_WORKERS": "1",
        "PROVREG_RATE_LIMIT_ENABLED": "false",
        "PROVREG_MEDIA_WALL_SECONDS": "300",
        "PROVREG_MEDIA_CPU_SECONDS": "300",
    }
    if args.phase == "many":  # the large phase measures what one check keeps: the default caps never bind there
        env["PROVREG_KEPT_MAX_BYTES"] = str(args.total_mb * 1024**2)
        env["PROVREG_KEPT_CLIENT_MAX_BYTES"] = str(args.client_mb * 1024**2)
    with tempfile.TemporaryDirectory(prefix="provreg-kept-") as tmp:
        data_dir = Path(tmp) / "data"
        with running_server(data_dir, admin, env=env, ready_timeout_s=300) as (base, _):
            found = (large if args.phase == "large" else many)(args, base, admin, data_dir)
    print_table(
        f"kept on disk ({args.phase}), code {code}", ["figure", "value"], [[k, str(v)] for k, v in found.items()]
    )
    write_json(
        args.out or RESULTS / f"kept_disk_{args.phase}.json",
        {"phase": args.phase, "code": str(code), **found, "machine": machine_info(["uvicorn", "pillow", "jinja2"])},
    )


if __name__ == "__main__":
    sys.exit(main())
