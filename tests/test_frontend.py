"""The front-end example (examples/frontend) in headless Chromium, next to the demo (issue
14): the repository's envoy.yaml plus a public route serving the page and the package's
browser build (examples/frontend/serve.py). The page fetches the demo user's permissions
through Envoy, decides with @portcullis/permissions (Wasm) and shows or hides three
components; the test reads what Chromium rendered.

`make frontend-screenshot` reruns it and keeps the screenshot in docs/frontend-example.png.
"""

import html.parser
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.gateway import ROOT, Envoy, load_repo_config

sys.path.insert(0, str(ROOT / "examples" / "frontend"))
from serve import StaticServer, with_frontend  # noqa: E402


@pytest.fixture(scope="module")
def prepared():
    """The package's browser build and Chromium (`make js browser`: incremental)."""
    subprocess.run(["make", "-s", "js", "browser"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    chromium = shutil.which("chromium")
    assert chromium, "make browser did not install chromium"
    return chromium


@pytest.fixture(scope="module")
def site(backend, prepared):
    static = StaticServer(0).start()
    try:
        with Envoy(with_frontend(load_repo_config(backend.port), static.port), name="frontend") as envoy:
            yield envoy
    finally:
        static.shutdown()


def chromium(binary, url, *extra):
    profile = tempfile.mkdtemp(prefix="portcullis-chromium-")
    try:
        run = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
             f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--window-size=1200,640",
             *extra, url],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


class Dom(html.parser.HTMLParser):
    """Elements by id and by data-section, with their attributes, and the text."""

    def __init__(self, text):
        super().__init__()
        self.by_id, self.sections, self.body, self.text = {}, [], {}, []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        if "id" in attrs:
            self.by_id[attrs["id"]] = attrs
        if "data-section" in attrs:
            self.sections.append(attrs["data-section"])

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def page(site, prepared, demo_token):
    url = f"http://acme.localhost:{site.port}/frontend/#token={demo_token}"
    return Dom(chromium(prepared, url, "--dump-dom"))


def test_the_page_loads_the_permissions_through_envoy(page):
    assert page.body.get("data-state") == "ready", page.body.get("data-error")
    assert "Signed in as u1 (acme)" in "".join(page.text)


def test_the_demo_user_sees_the_contract_view_and_list_not_finance_reports(page):
    assert page.body["data-visible"].split() == ["contract-view", "contract-list"]
    assert "hidden" not in page.by_id["contract-view"]
    assert "hidden" not in page.by_id["contract-list"]
    assert "hidden" in page.by_id["finance-reports"]
    assert page.by_id["finance-reports"].get("data-granted") == "false"


def test_the_contract_view_has_no_mother_section_nor_cpf(page):
    assert page.sections == ["user"]
    text = "".join(page.text)
    assert "Usuário" in text and "adwords" in text
    assert "Mãe" not in text and "000.000.370.00" not in text
    assert '["mother","user.cpf"]' in text  # the page's own hiddenFields() table


def test_a_screenshot_of_the_page(site, prepared, demo_token):
    target = Path(os.environ.get("PORTCULLIS_SCREENSHOT") or tempfile.mkdtemp(prefix="portcullis-shot-"))
    if target.suffix != ".png":
        target = target / "frontend-example.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    url = f"http://acme.localhost:{site.port}/frontend/#token={demo_token}"
    chromium(prepared, url, f"--screenshot={target}", "--hide-scrollbars")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
