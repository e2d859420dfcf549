"""Fetches axe-core (the accessibility engine the explorer's browser tests run in the page)
from the npm registry into .venv/share/axe-core/axe.min.js, checked against the registry's
sha512 integrity pinned here. A test tool: it does not ship in the wheel. Idempotent."""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "4.14.1"
TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
INTEGRITY = "FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
TARGET = Path(".venv/share/axe-core") / f"axe-{VERSION}.min.js"


def main() -> int:
    if TARGET.is_file():
        return 0
    with urllib.request.urlopen(TARBALL, timeout=60) as response:
        data = response.read()
    if base64.b64encode(hashlib.sha512(data).digest()).decode() != INTEGRITY:
        print(f"fetch_axe: {TARBALL} does not match its pinned sha512", file=sys.stderr)
        return 1
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        member = archive.extractfile("package/axe.min.js")
        if member is None:
            print("fetch_axe: the tarball holds no package/axe.min.js", file=sys.stderr)
            return 1
        script = member.read()
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    partial = TARGET.with_suffix(".part")
    partial.write_bytes(script)
    partial.replace(TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
