"""The profile file ``metering.toml``: the RPC URL, contract, keystore, database and RPC timeout a provider uses
every day, so that no shell needs five exported variables.

Where it is: ``$METERING_PROFILE`` if set (then it must exist; set but empty, no profile is read), else
``./metering.toml`` in the current folder,
else ``metering.toml`` in the user config folder (``~/.config/metering/`` on Linux). Precedence, per option:
command-line flag > environment variable > profile > built-in default. Relative paths in the file are relative to
the file's folder. Example::

    rpc_url = "http://127.0.0.1:8545"
    contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    keystore = "keys/provider.json"     # password: ETH_PASSWORD / METERING_PASSWORD, else a hidden prompt
    db = "events.sqlite"
    rpc_timeout = 30                    # seconds one JSON-RPC request may take

The file is a few lines written by hand, so anything else is refused (adversary: a file that is not a profile,
e.g. a typo'd ``METERING_PROFILE=/dev/zero``): at most 64 KiB, a regular file, TOML, known keys with their types.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metering.errors import ConfigError

__all__ = ["MAX_PROFILE_BYTES", "PROFILE_ENV", "PROFILE_NAME", "Profile", "find_profile", "load_profile"]

PROFILE_ENV = "METERING_PROFILE"
PROFILE_NAME = "metering.toml"
MAX_PROFILE_BYTES = 64 * 1024

#: The keys of the file: each is also the name of the command parameter it fills (rpc_timeout fills no parameter:
#: it is read by :func:`metering.cli._common.connect`).
_STRINGS = ("rpc_url", "contract", "keystore", "db")
_PATHS = ("keystore", "db")


@dataclass(frozen=True)
class Profile:
    """The values of a profile file, paths made absolute; ``path`` is None when there is no file."""

    path: Path | None = None
    values: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str) -> Any:
        return dict(self.values).get(key)

    def defaults(self) -> dict[str, Any]:
        """What fills command parameters (Click's ``default_map``, below the flag and the environment)."""
        return {key: value for key, value in self.values if key in _STRINGS}


def find_profile(environ: os._Environ[str] | dict[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """The profile file in use, if any (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    named = env.get(PROFILE_ENV)
    if named == "":  # set but empty: no profile at all (scripts and tests that must not pick one up)
        return None
    if named:
        path = Path(named).expanduser()
        if not path.exists():
            raise ConfigError(f"no profile file at {path} ({PROFILE_ENV}): create it or unset the variable")
        return path
    local = (cwd or Path.cwd()) / PROFILE_NAME
    if local.is_file():
        return local
    import platformdirs

    user = Path(platformdirs.user_config_dir("metering")) / PROFILE_NAME
    return user if user.is_file() else None


def load_profile(path: Path | None) -> Profile:
    """The profile at ``path`` (an empty one for None), checked: :class:`ConfigError` names the file and the key."""
    import tomllib

    if path is None:
        return Profile()
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"the profile {path} is not a regular file")
        if info.st_size > MAX_PROFILE_BYTES:
            raise ConfigError(f"the profile {path} is {info.st_size} bytes, over {MAX_PROFILE_BYTES}: not a profile")
        with path.open("rb") as file:
            data = tomllib.loads(file.read(MAX_PROFILE_BYTES + 1).decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the profile {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the profile {path} is not valid TOML: {exc}") from exc
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _STRINGS and isinstance(value, str) and value:
            values[key] = str((path.parent / Path(value).expanduser()).resolve()) if key in _PATHS else value
        elif key == "rpc_timeout" and isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            values[key] = float(value)
        else:
            known = ", ".join((*_STRINGS, "rpc_timeout"))
            raise ConfigError(f"the profile {path} has a bad entry {key} = {value!r} (known: {known}; strings, "
                              "rpc_timeout a positive number of seconds)")
    return Profile(path, tuple(values.items()))
