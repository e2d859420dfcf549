"""`pacata-vpn` (pacata/cli/): subcommands, options, and errors the user can fix."""

from __future__ import annotations

import pytest

from pacata.cli.main import build_parser, main


def test_wg_userspace_arguments() -> None:
    arguments = build_parser().parse_args(
        ["wg-userspace", "-f", "--protocol-parameter", "rekey_after_time=2", "wg7"]
    )
    assert arguments.command.words == ("wg-userspace",)
    assert arguments.interface == "wg7"
    assert arguments.foreground
    assert arguments.protocol_parameter == [("rekey_after_time", 2.0)]
    assert arguments.mtu == 1420 and arguments.data_threads == 1


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    error = capsys.readouterr().err
    assert error == (
        "pacata-vpn: error: the following arguments are required: COMMAND (see pacata-vpn --help)\n"
    )


def test_unknown_protocol_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wg-userspace", "--protocol-parameter", "warp_speed=9", "wg7"]) == 2
    assert "rekey_after_time" in capsys.readouterr().err


def test_inconsistent_protocol_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["wg-userspace", "-f", "--protocol-parameter", "rekey_after_time=500", "wg7"])
    assert status == 2
    assert "rekey_after_time" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name", ["much-too-long-for-an-interface", "a/b", "wg 0", "wg:0", "..", "wg\x00", ""]
)
def test_an_invalid_interface_name_is_a_usage_error(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused before anything starts: exit 2 and one line, as for every bad command-line value.
    assert main(["wg-userspace", "-f", name]) == 2
    error = capsys.readouterr().err
    assert "invalid interface name" in error and "Traceback" not in error
    assert error.count("\n") == 1


@pytest.mark.parametrize("mtu", ["0", "575", "65536", "-1", "1e3", "99999999999999999999"])
def test_an_mtu_out_of_range_is_a_usage_error(mtu: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wg-userspace", "--mtu", mtu, "wg7"]) == 2
    assert "576-65535" in capsys.readouterr().err
