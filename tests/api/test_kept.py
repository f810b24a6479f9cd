"""What anonymous checks keep on disk (comparison pictures, the page's kept checks) stays under its caps, and the
evidence package is drawn on demand from what was kept."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import photo_bytes, wait_ready
from fastapi.testclient import TestClient
from test_web import csrf_of, doctored_astronaut, make_newsroom, register

from api.app import create_app
from registry.settings import Settings

TOTAL, PER_CLIENT = 3_000_000, 1_500_000  # a check of the doctored astronaut keeps about 1.25 MB


def kept_bytes(data_dir: Path) -> int:
    """Everything under the data directory's folders but the originals, the index and the log keys."""
    durable = {"originals", "index", "log-keys"}
    return sum(
        path.stat().st_size
        for path in data_dir.rglob("*")
        if path.is_file()
        and len(path.relative_to(data_dir).parts) > 1
        and path.relative_to(data_dir).parts[0] not in durable
    )


def sample(metrics: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} (\S+)$", metrics, re.M)
    assert found is not None, f"{series} is not in /metrics"
    return float(found.group(1))


def check_on_the_page(browser: TestClient) -> str:
    """Check the doctored astronaut on the page; the card's evidence link."""
    card = browser.post(
        "/check",
        params={"partial": "true"},
        data={"csrf": csrf_of(browser.get("/").text)},
        files={"file": ("doctored.jpg", doctored_astronaut())},
    )
    assert card.status_code == 200, card.text
    found = re.search(r'href="(/evidence/[^"]+)" download', card.text)
    assert found is not None
    return found.group(1)


def test_checks_keep_no_more_than_the_caps_oldest_first_and_packages_are_drawn_on_demand(settings: Settings) -> None:
    settings = settings.model_copy(update={"kept_max_bytes": TOTAL, "kept_client_max_bytes": PER_CLIENT})
    with TestClient(create_app(settings)) as alice:
        wait_ready(alice)
        register(alice, make_newsroom(alice), photo_bytes("astronaut"))
        bob, carol = (TestClient(alice.app, client=(address, 40000)) for address in ("198.51.100.7", "203.0.113.9"))
        links: dict[str, list[str]] = {"alice": [], "bob": []}
        for _ in range(3):
            for name, browser in (("alice", alice), ("bob", bob)):
                links[name].append(check_on_the_page(browser))
                assert kept_bytes(settings.data_dir) <= TOTAL
        api = bob.post("/v1/check", params={"pictures": "true"}, files={"file": ("q.jpg", doctored_astronaut())})
        assert api.status_code == 200 and kept_bytes(settings.data_dir) <= TOTAL  # the JSON API's pictures count too
        # Each client's newest check is whole; its oldest went to make room for its own newer ones.
        package = alice.get(links["alice"][-1])
        pictures = package.text.count("data:image/")
        assert package.status_code == 200 and pictures >= 3
        assert "attachment" in package.headers["content-disposition"] and "<html" in package.text
        assert alice.get(links["alice"][0]).status_code == 404 and bob.get(links["bob"][0]).status_code == 404
        # A third client fits only by evicting the oldest file of anyone's: alice's comparison picture, older than
        # bob's; her package still comes, without it.
        check_on_the_page(carol)
        assert kept_bytes(settings.data_dir) <= TOTAL
        assert alice.get(links["alice"][-1]).text.count("data:image/") == pictures - 1
        metrics = alice.get("/metrics").text
        kept = sum(float(v) for v in re.findall(r'^provreg_kept_bytes\{kind="\w+"\} (\S+)$', metrics, re.M))
        assert 0 < kept <= TOTAL
        assert sample(metrics, 'provreg_kept_limit_bytes{scope="client"}') == PER_CLIENT
        assert sample(metrics, 'provreg_kept_dropped_total{kind="picture",reason="evicted"}') >= 1
