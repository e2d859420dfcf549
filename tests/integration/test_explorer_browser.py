"""The block explorer in a real headless Chromium (Debian's `chromium`, driven by playwright)
against a real `pacatad --devnet` (issue 17's first Must-show line): every page reached from the
home page by its links, each kind of key searched, a new block arriving live within two slots,
axe-core finding no serious or critical violation on any page in the light and dark themes (the
dark one at a phone's width), and bad input answered by a clean 400/404 page that reflects no
markup. A screenshot of every page goes to build/screenshots/explorer/ for a person to look at.

Every wait has a deadline; the node and the browser are ended whatever happens.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pacata.chain.devnet import devnet_key
from pacata.chain.genesis import shipped_genesis
from pacata.chain.keys import PrivateKey
from pacata.chain.transactions import (
    ChannelOpen,
    Payload,
    RelayOffer,
    RelayRegister,
    Transfer,
    make_transaction,
)
from pacata.chain.transitions import channel_id_of
from pacata.testing import browser
from pacata.testing.node_process import NodeProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(browser.chromium_path() is None, reason="needs chromium (apt install)"),
    pytest.mark.skipif(browser.axe_script() is None, reason="needs axe-core: scripts/fetch_axe.py"),
]

SHOTS = browser.ROOT / "build" / "screenshots" / "explorer"
CHAIN_ID = "pacata-devnet-1"
SLOT_MS = shipped_genesis("devnet").params.slot_ms
DEADLINE_S = 30.0
SENDER, RECIPIENT, RELAY, CLIENT = (devnet_key(i) for i in (5, 6, 3, 4))


def _send(devnet: NodeProcess, key: PrivateKey, payload: Payload) -> str:
    account = devnet.get(f"/api/accounts/{key.address}")
    txid = devnet.submit(make_transaction(key, CHAIN_ID, account["pending_nonce"], 1_000, payload))
    devnet.wait_for(f"{txid[:12]} confirmed", lambda: devnet.confirmed(txid) or None, DEADLINE_S)
    return txid


def _look(page: browser.Page, name: str) -> None:
    """The page as it is now: a screenshot, one <h1>, and no serious accessibility violation."""
    browser.screenshot(page, SHOTS, name)
    assert page.locator("h1").count() == 1, name
    assert page.locator("main#main").count() == 1, name
    violations = browser.serious_violations(page)
    assert violations == [], (name, violations)


def test_the_explorer_in_chromium(devnet: NodeProcess) -> None:
    shutil.rmtree(SHOTS, ignore_errors=True)
    transfer = _send(devnet, SENDER, Transfer(RECIPIENT.address, 123_456_789))
    offer = RelayOffer(bytes(range(32)), ("127.0.0.1:51820",), (10_000_000,), (0,))
    _send(devnet, RELAY, RelayRegister(offer))
    opening = ChannelOpen(RELAY.address, 50_000_000, 0, bytes(32), devnet.status()["height"] + 500)
    nonce = devnet.get(f"/api/accounts/{CLIENT.address}")["pending_nonce"]
    _send(devnet, CLIENT, opening)
    channel = channel_id_of(CLIENT.public_key, nonce).hex()
    transfer_height = devnet.get(f"/api/txs/{transfer}")["block_height"]
    base = devnet.base

    with browser.chromium() as page:
        page.set_default_timeout(DEADLINE_S * 1000)
        page.goto(base + "/")
        _look(page, "home")

        # Every page of the menu, by its link.
        for name, path in (
            ("Blocks", "/blocks"),
            ("Relays", "/relays"),
            ("Channels", "/channels"),
            ("Epochs", "/epochs"),
            ("Network", "/network"),
            ("Home", "/"),
        ):
            page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()
            page.wait_for_url(base + path)
            _look(page, name.lower())

        # Down from the home page: the block, its transfer, the sender, the proof.
        page.get_by_role("link", name="All blocks").click()
        page.locator(f'#blocks a[href="/block/{transfer_height}"]').first.click()
        page.wait_for_url(re.compile(rf"/block/{transfer_height}$"))
        _look(page, "block")
        page.locator(f'#block-transactions a[href="/tx/{transfer}"]').first.click()
        page.wait_for_url(base + f"/tx/{transfer}")
        assert "Confirmed" in page.locator("#tx-status").inner_text()
        _look(page, "transaction")
        page.locator(f'main a[href="/address/{SENDER.address}"]').first.click()
        page.wait_for_url(base + f"/address/{SENDER.address}")
        proof = page.locator("#proof-status")
        assert "ok" in (proof.get_attribute("class") or "")
        assert "Verified against the header's state root" in proof.inner_text()
        _look(page, "address")
        page.goto(base + f"/address/{CLIENT.address}")
        page.locator(f'#channels-client a[href="/channel/{channel}"]').first.click()
        page.wait_for_url(base + f"/channel/{channel}")
        _look(page, "channel")
        page.goto(base + "/relays?sort=price&order=desc")
        _look(page, "relays-sorted")

        # Search each kind of key, as typed in the search box.
        block_hash = devnet.get(f"/api/blocks/{transfer_height}")["hash"]
        searches = {
            str(transfer_height): f"/block/{transfer_height}",
            block_hash: f"/block/{block_hash}",
            transfer: f"/tx/{transfer}",
            str(RECIPIENT.address): f"/address/{RECIPIENT.address}",
            channel: f"/channel/{channel}",
        }
        for key, target in searches.items():
            page.get_by_label("Search").fill(key)
            page.get_by_label("Search").press("Enter")
            page.wait_for_url(re.compile(re.escape(target) + "$"))
        prefix = str(RECIPIENT.address)[:9]
        page.get_by_label("Search").fill(prefix)
        page.get_by_label("Search").press("Enter")
        page.wait_for_url(re.compile(r"/search\?q="))
        assert str(RECIPIENT.address) in page.locator("#search-results").inner_text()
        _look(page, "search-prefix")

        # A new block arrives live, without a reload, within two slots.
        page.goto(base + "/")
        first = page.locator("#latest-blocks tr").first
        tip = int(first.locator("a").first.inner_text())
        page.wait_for_function(
            "tip => parseInt(document.querySelector('#latest-blocks tr a').textContent) > tip",
            arg=tip,
            timeout=2 * SLOT_MS,
        )
        assert int(page.locator("#tip-height").inner_text()) > tip

        # Bad input: a clean page, never a 500, never the markup given back.
        for path, status in (
            ("/block/" + "ab" * 32, 404),
            ("/tx/" + "cd" * 32, 404),
            ("/address/pac1notanaddress", 400),
            ("/block/notaheight", 400),
            ("/blocks?before=99999999999999999999999999", 400),
            ("/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", 404),
            ("/no/such/page", 404),
        ):
            response = page.goto(base + path)
            assert response is not None and response.status == status, path
            assert "<script>alert(1)</script>" not in page.content(), path
            assert page.locator("script:not([src])").count() == 0, path
            _look(page, f"error-{status}-{path}")

    with browser.chromium(color_scheme="dark", viewport=browser.PHONE) as page:
        for name, path in (
            ("home", "/"),
            ("block", f"/block/{transfer_height}"),
            ("address", f"/address/{SENDER.address}"),
            ("relays", "/relays"),
        ):
            page.goto(base + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= browser.PHONE["width"], (name, width)  # nothing runs off the screen
            _look(page, f"phone-dark-{name}")
    assert len(list(Path(SHOTS).glob("*.png"))) >= 20
