"""End to end in a real headless Chromium (Debian's package, driven by Playwright): a reviewer
opens their link, votes on every record, the owner reads the results. The card page's screenshot
is kept as a test artifact (test-artifacts/review-card.png)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jumeau.data.cohort import Cohort
from jumeau.review.app import create_app
from jumeau.review.study import StudyCreated, create_study

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(
        "Debian's chromium is not installed (make test installs it)", allow_module_level=True
    )


def _free_port() -> int:
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return int(handle.getsockname()[1])


@pytest.fixture
def served(real: Cohort, artificial: Cohort, tmp_path: Path) -> Iterator[tuple[str, StudyCreated]]:
    import uvicorn

    path = tmp_path / "study.db"
    made = create_study(real, artificial, path, reviewers=["alice"], records=6, seed=2)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(path), host="127.0.0.1", port=port, log_level="error", access_log=False
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "the review server did not start"
    yield f"http://127.0.0.1:{port}", made
    server.should_exit = True
    thread.join(timeout=10)


def test_a_reviewer_votes_in_a_browser_and_the_owner_sees_the_results(
    served: tuple[str, StudyCreated], tmp_path: Path
) -> None:
    base, made = served
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 1366})  # a tablet
            page.goto(made.links(base)["alice"])
            assert page.url == f"{base}/review"  # the token left the address bar
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "review-card.png"), full_page=True)
            for position in range(1, 7):
                sync_api.expect(page.locator(".progress")).to_have_text(
                    f"Record {position} of 6", timeout=30_000
                )
                page.check("input[name=label][value=artificial]")
                page.check("input[name=confidence][value='4']")
                page.check("input[name=variables][value=age]")
                page.fill("textarea[name=remark]", "age looks rounded")
                page.click("button[type=submit]")
            # the last submit navigates: wait for the new page rather than read one mid-load
            # (page.content() returned '' once on a loaded CI machine)
            sync_api.expect(page.locator("body")).to_contain_text(
                "reviewed every record", timeout=30_000
            )
            owner = browser.new_page()
            owner.goto(made.admin_link(base))
            assert owner.url == f"{base}/admin"
            text = owner.content()
            assert "alice" in text and "age looks rounded" in text and "age (4)" not in text
            assert "6 votes" in text
        finally:
            browser.close()
    assert (ARTIFACTS / "review-card.png").stat().st_size > 10_000
