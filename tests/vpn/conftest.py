"""Every test that drives devices through a `Testbed` runs twice: through the general path
only, and with the transport fast path tried first (as the userspace engine does), so that the
two paths are held to the same observable behaviour."""

from __future__ import annotations

import pytest

from pacata.testing.wireguard import Testbed

_TESTBED_MODULES = {"test_wireguard_device", "test_wireguard_batches", "test_wireguard_fast_path"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.module.__name__.rsplit(".", 1)[-1] in _TESTBED_MODULES:
        metafunc.parametrize("transport_path", ["general", "fast"], indirect=True)


@pytest.fixture(autouse=True)
def transport_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    path = str(getattr(request, "param", "general"))
    monkeypatch.setattr(Testbed, "fast_path_default", path == "fast")
    return path
