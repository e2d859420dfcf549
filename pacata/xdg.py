"""The XDG base directories (https://specifications.freedesktop.org/basedir-spec/): where a
user's data, configuration and state go. One rule for every place Pacata keeps a user's
files (the node's data directory, the wallets, the shell's history, the node's config): the
variable when it is set to an absolute path, else its default under the home directory (the
spec ignores a relative value)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

XdgKind = Literal["data", "config", "state"]
_DEFAULTS: dict[XdgKind, tuple[str, tuple[str, ...]]] = {
    "data": ("XDG_DATA_HOME", (".local", "share")),
    "config": ("XDG_CONFIG_HOME", (".config",)),
    "state": ("XDG_STATE_HOME", (".local", "state")),
}


def xdg_home(kind: XdgKind, environ: Mapping[str, str], home: Path) -> Path:
    """`$XDG_<KIND>_HOME`, or its default under `home` (`~/.local/share` for data)."""
    variable, default = _DEFAULTS[kind]
    chosen = environ.get(variable, "")
    return Path(chosen) if chosen and Path(chosen).is_absolute() else home.joinpath(*default)
