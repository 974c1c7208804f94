"""What produced a backtest, as the client fills it in: which code (the git commit of the
caller's script and whether its tree was dirty, the sha256 of the strategy's source), on
which data (a version-stable sha256 of the prices), in which environment (python and
the versions of the packages used).

``data_fingerprint`` hashes a DataFrame or Series in a way that does not depend on the
pandas or numpy version, so anyone can recompute it in any language::

    sha256(
        b"backtest-ledger data v1\\n"
        + the index as little-endian int64 nanoseconds since 1970-01-01 UTC
          (times without a timezone are taken as UTC; a numeric index as float64)
        + for each column in order: its name in UTF-8, a NUL byte, then its values:
          numbers and booleans as little-endian float64 (every NaN as 0x7ff8000000000000),
          anything else as the UTF-8 of str(value) followed by a NUL byte
    )

A Series is one column named "" whatever its name (libraries rename a close series:
vectorbt's ``Portfolio.close`` has none), so the same prices give the same fingerprint.
Several feeds (a backtrader strategy on two symbols) are fingerprinted as the sha256 of
their digests in order, each as hexadecimal text followed by a newline; ``rows``,
``first`` and ``last`` are then the first feed's.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import platform
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

DATA_VERSION = b"backtest-ledger data v1\n"
_NAN = np.frombuffer(b"\x00\x00\x00\x00\x00\x00\xf8\x7f", dtype="<f8")[0]
MAX_TEXT = 500


def data_fingerprint(data: pd.DataFrame | pd.Series) -> dict[str, Any]:
    """``{"sha256", "rows", "first", "last"}`` of price data (see the module's rule)."""
    frame = data.to_frame(name="") if isinstance(data, pd.Series) else data
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame or Series, not {type(data).__name__}")
    digest = hashlib.sha256(DATA_VERSION)
    digest.update(_index_bytes(frame.index))
    for name in frame.columns:
        digest.update(str(name).encode() + b"\x00")
        digest.update(_column_bytes(frame[name]))
    fingerprint: dict[str, Any] = {"sha256": digest.hexdigest(), "rows": len(frame)}
    if len(frame):
        fingerprint["first"], fingerprint["last"] = _key(frame.index[0]), _key(frame.index[-1])
    return fingerprint


def feeds_fingerprint(feeds: list[pd.DataFrame | pd.Series]) -> dict[str, Any]:
    """The fingerprint of several feeds in order (of one: its own)."""
    prints = [data_fingerprint(feed) for feed in feeds]
    if len(prints) == 1:
        return prints[0]
    combined = hashlib.sha256(b"".join(p["sha256"].encode() + b"\n" for p in prints))
    return {**prints[0], "sha256": combined.hexdigest()}


def _index_bytes(index: pd.Index) -> bytes:
    if isinstance(index, pd.DatetimeIndex):
        utc = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        return bytes(utc.as_unit("ns").asi8.astype("<i8").tobytes())
    return _column_bytes(pd.Series(index))


def _column_bytes(values: pd.Series) -> bytes:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype="<f8", na_value=np.nan).copy()
        numbers[np.isnan(numbers)] = _NAN
        return bytes(numbers.tobytes())
    return b"".join(str(value).encode() + b"\x00" for value in values)


def _key(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        stamp = value.tz_localize("UTC") if value.tz is None else value.tz_convert("UTC")
        return stamp.isoformat().replace("+00:00", "Z")
    return str(value)[:100]


def source_sha256(obj: Any) -> str | None:
    """The sha256 of the source text of a class or function (of ``type(obj)`` for an
    instance), or None when Python cannot find it (defined at a prompt, or compiled)."""
    target = obj if inspect.isclass(obj) or inspect.isroutine(obj) else type(obj)
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()


def caller_script() -> Path:
    """The running script (``__main__``'s file), or the working directory when there is
    none (a notebook, a prompt)."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    return Path(script).resolve() if script else Path.cwd()


def code_provenance(script: Path | None = None) -> dict[str, Any]:
    """The git repository holding ``script`` (default: ``caller_script()``): its remote
    (credentials removed), the commit checked out, whether tracked files differ from it,
    and the script's path within it. Empty outside a repository or without git. Read
    anew at each call (a sweep of ``record_many`` calls it once)."""
    script = script or caller_script()
    directory = script if script.is_dir() else script.parent
    found = _git(str(directory))
    root = found.pop("root", None)
    if root is not None and not script.is_dir():
        try:
            found["entry_point"] = script.relative_to(root).as_posix()[:MAX_TEXT]
        except ValueError:
            found["entry_point"] = script.name[:MAX_TEXT]
    return found


_CREDENTIALS = re.compile(r"^(\w+://)[^/@]*@")


def _git(directory: str) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", directory, *args], capture_output=True,
                                  text=True, timeout=10, check=False)  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit or not re.fullmatch(r"[0-9a-f]{7,64}", commit):
        return {}
    status = git("status", "--porcelain", "--untracked-files=no")
    found: dict[str, Any] = {"commit": commit, "root": Path(git("rev-parse", "--show-toplevel")
                                                            or directory).resolve()}  # fmt: skip
    if status is not None:
        found["dirty"] = bool(status)
    remote = git("config", "--get", "remote.origin.url")
    if remote:
        found["repository"] = _CREDENTIALS.sub(r"\1", remote)[:MAX_TEXT]
    return found


def package_versions(*names: str) -> dict[str, str]:
    """The installed versions of these distributions (those installed)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def environment_provenance(*libraries: str) -> dict[str, Any]:
    """Python's version and those of numpy, pandas, this client and ``libraries``."""
    names = ("numpy", "pandas", "backtest-ledger", *libraries)
    return {"python": platform.python_version(), "packages": package_versions(*names)}


def merged(*parts: Mapping[str, Any] | None) -> dict[str, Any]:
    """Provenance documents merged left to right: a later part's field replaces an
    earlier one's, part by part (``code``, ``data``, ``environment``) and, within the
    environment, package by package."""
    out: dict[str, Any] = {}
    for part in parts:
        for section, fields in (part or {}).items():
            if not isinstance(fields, Mapping):
                out[section] = fields  # not ours to judge: the service names it
                continue
            into = out.setdefault(section, {})
            for name, value in fields.items():
                if name == "packages" and isinstance(value, Mapping):
                    into[name] = {**into.get(name, {}), **value}
                else:
                    into[name] = value
    return {section: fields for section, fields in out.items() if fields != {}}


def found_provenance(
    library: str,
    strategy: Any = None,
    data: pd.DataFrame | pd.Series | list[pd.DataFrame | pd.Series] | None = None,
) -> dict[str, Any]:
    """What an adapter finds in a library's objects: the library's version, the
    sha256 of the ``strategy``'s class source, and the fingerprint of the ``data`` (one
    frame or several feeds)."""
    found: dict[str, Any] = {"environment": {"packages": package_versions(library)}}
    source = None if strategy is None else source_sha256(strategy)
    if source is not None:
        found["code"] = {"source_sha256": source}
    if data is not None:
        feeds = data if isinstance(data, list) else [data]
        if feeds:
            found["data"] = feeds_fingerprint(feeds)
    return found


class Gathered(NamedTuple):
    """What the client found by itself once (``gathered``), for records that share it:
    a sweep recorded by ``record_many`` runs git once, not once a variant."""

    found: dict[str, Any]
    given: Mapping[str, Any] | bool | None = None


def gathered() -> dict[str, Any]:
    """What the client finds by itself: the git state of the caller's script and the
    environment."""
    return {"code": code_provenance(), "environment": environment_provenance()}


def collected(
    given: Mapping[str, Any] | bool | Gathered | None,
    found: Mapping[str, Any] | None = None,
    data: pd.DataFrame | pd.Series | None = None,
) -> dict[str, Any] | None:
    """The provenance a record sends: what the client finds by itself (``gathered``),
    then what an adapter ``found`` in the library's objects, then ``data``'s
    fingerprint, then what the caller ``given``, each replacing the fields before it.
    ``given=False`` sends none."""
    auto = given.found if isinstance(given, Gathered) else None
    if isinstance(given, Gathered):
        given = given.given
    if given is False:
        return None
    fingerprint = None if data is None else {"data": data_fingerprint(data)}
    caller = None if given is True else given
    return merged(auto or gathered(), found, fingerprint, caller) or None
