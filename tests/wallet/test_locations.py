"""The default wallet directory (pacata/wallet/locations.py): `$PACATA_WALLET_DIR`, else the
node's XDG rule with `wallets` in the place of a chain id."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacata.rpc.cookie import default_data_dir
from pacata.wallet import WalletError, default_wallet_dir

HOME = Path("/home/user")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "/home/user/.local/share/pacata/wallets"),
        ({"XDG_DATA_HOME": "/data"}, "/data/pacata/wallets"),
        ({"XDG_DATA_HOME": ""}, "/home/user/.local/share/pacata/wallets"),
        ({"XDG_DATA_HOME": "relative/data"}, "/home/user/.local/share/pacata/wallets"),
        ({"PACATA_WALLET_DIR": "/secure/wallets"}, "/secure/wallets"),
        ({"PACATA_WALLET_DIR": "/secure/wallets", "XDG_DATA_HOME": "/data"}, "/secure/wallets"),
        ({"PACATA_WALLET_DIR": ""}, "/home/user/.local/share/pacata/wallets"),
    ],
)
def test_default_wallet_dir(environ: dict[str, str], expected: str) -> None:
    assert default_wallet_dir(environ, HOME) == Path(expected)


def test_the_wallets_sit_beside_the_chains() -> None:
    for environ in ({}, {"XDG_DATA_HOME": "/data"}):
        chain_dir = default_data_dir("pacata-devnet-1", environ, HOME)
        assert default_wallet_dir(environ, HOME).parent == chain_dir.parent


def test_a_relative_wallet_dir_is_refused() -> None:
    with pytest.raises(WalletError, match="PACATA_WALLET_DIR must be an absolute path, not 'w'"):
        default_wallet_dir({"PACATA_WALLET_DIR": "w"}, HOME)
