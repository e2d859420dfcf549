"""The documentation's examples run as written.

Every code block of `docs/api.md` and `docs/operations.md` whose fence says `runnable`
(```` ```sh runnable ````, ```` ```python runnable ````) is run, in the order of its page,
against a real `pacatad --devnet` started for that page: shell blocks with bash from the
repository root, Python blocks with this interpreter. The node runs with its default data
directory under a temporary `HOME`, so that `~/.local/share/pacata/…` in an example is the
node's, with `DATADIR` set to it; the only change made to a block is the API's port (9740 in the
docs, a free port here). When a ```` ```json ```` block follows a shell block, the command's
output must be JSON holding every key that block shows (`…` stands for what is left out).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pacata.testing.node_process import NodeProcess

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("api.md", "operations.md")
DOCS_PORT = "127.0.0.1:9740"
DEADLINE_S = 30.0
_FENCE = re.compile(r"^```(\S*)(.*)$")


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    language: str
    code: str
    expected_json: str | None

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def examples(page: str) -> list[Example]:
    """The runnable blocks of `page`, each with the ```json block right after it, if any."""
    blocks: list[tuple[int, str, str, str]] = []  # line, language, info, code
    lines = (ROOT / "docs" / page).read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = index + 1
        while not lines[end].startswith("```"):
            end += 1
        blocks.append(
            (index + 1, fence.group(1), fence.group(2), "\n".join(lines[index + 1 : end]))
        )
        # A block that follows at once is the one after the closing fence.
        index = end + 1
    found = []
    for position, (line, language, info, code) in enumerate(blocks):
        if "runnable" not in info.split():
            continue
        following = blocks[position + 1] if position + 1 < len(blocks) else None
        expected = None
        if (
            following is not None
            and following[1] == "json"
            and following[0] == line + code.count("\n") + 3
        ):
            expected = following[3]
        found.append(Example(page, line, language, code, expected))
    return found


def test_the_pages_have_runnable_examples() -> None:
    # Dropping the marker from every block must not make this test pass by running nothing.
    assert len(examples("api.md")) >= 8
    assert len(examples("operations.md")) >= 2


@dataclass
class Devnet:
    """A `pacatad --devnet` whose data directory is the default one under `HOME`, and the
    environment the examples run in."""

    node: NodeProcess
    env: dict[str, str]


@contextmanager
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "XDG_DATA_HOME"}
    env["HOME"] = str(home)
    datadir = home / ".local" / "share" / "pacata" / "pacata-devnet-1"
    env["DATADIR"] = str(datadir)
    node = NodeProcess(
        "pacatad",
        genesis=None,
        datadir=datadir,
        listen="127.0.0.1:0",
        produce=True,
        log_dir=tmp_path,
        env=env,
    )
    try:
        node.wait_for("its first block", lambda: "block 1 " in node.log_text() or None)
        yield Devnet(node, env)
    finally:
        node.close()


def run(example: Example, node: Devnet) -> str:
    code = example.code.replace(DOCS_PORT, f"127.0.0.1:{node.node.rpc_port}")
    if example.language == "sh":
        command = ["bash", "-e", "-o", "pipefail", "-c", code]
    elif example.language == "python":
        command = [sys.executable, "-c", code]
    else:
        pytest.fail(f"{example}: no way to run a {example.language!r} block")
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=node.env,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert result.returncode == 0, (
        f"{example} failed ({result.returncode}):\n{code}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def missing_keys(documented: Any, actual: Any, where: str = "") -> list[str]:
    """The keys `documented` shows (but `…`) that `actual` lacks, in nested objects too."""
    if not isinstance(documented, dict):
        return []
    if not isinstance(actual, dict):
        return [where or "(the whole answer)"]
    missing = []
    for key, value in documented.items():
        if "…" in key:
            continue
        if key not in actual:
            missing.append(f"{where}{key}")
        else:
            missing += missing_keys(value, actual[key], f"{where}{key}.")
    return missing


@pytest.mark.parametrize("page", PAGES)
def test_the_runnable_examples_run_as_written(page: str, tmp_path: Path) -> None:
    found = examples(page)
    assert found, f"docs/{page} has no runnable example"
    with devnet(tmp_path) as node:
        for example in found:
            output = run(example, node)
            if example.language != "sh" or example.expected_json is None:
                continue
            documented = json.loads(example.expected_json)
            answer = json.loads(output)
            assert not missing_keys(documented, answer), (
                f"{example}: the answer lacks {missing_keys(documented, answer)}: {output}"
            )
        if "/api/admin/stop" in found[-1].code:
            # The page's last example stopped the node: it exits, cleanly.
            assert node.node.process.wait(timeout=DEADLINE_S) == 0
