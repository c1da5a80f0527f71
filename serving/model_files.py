"""Why a registered model version does not load, named by version, file and fault.

MLflow's own errors say what Python saw (`EOFError: `, `KeyError: 121`), not which of the
model's files is damaged. After a failed load the holder asks `diagnose` to check the files a
pyfunc model of ours is made of, in the order MLflow reads them, and to say what is wrong.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

import joblib
import yaml

MLMODEL = "MLmodel"


class ModelFileError(Exception):
    """A registered version cannot be loaded: `file` (inside the model) is `what`."""

    def __init__(self, name: str, version: str, file: str, what: str, where: str) -> None:
        self.file = file
        self.what = what
        super().__init__(f"{name} version {version}: {file} {what} (in {where})")


def diagnose(
    name: str,
    version: str,
    source: str,
    err: BaseException,
    download: Callable[[str, str], str] | None = None,
) -> str:
    """A message naming the version, the damaged file and what is wrong with it.

    `source` is the version's artifact location; `err` what loading it raised; `download`
    copies a remote source into a folder (the champion holder passes MLflow's). When every
    file reads, the message is `err` itself, prefixed with the version.
    """
    try:
        folder = _local_folder(source)
        if folder is None and download is not None:
            with tempfile.TemporaryDirectory() as scratch:
                check_files(name, version, Path(download(source, scratch)), where=source)
        elif folder is not None:
            check_files(name, version, folder, where=str(folder))
    except ModelFileError as found:
        return str(found)
    except Exception as other:  # the check itself failed: keep the original reason
        return f"{name} version {version}: {_reason(err)} (its files could not be checked: {other})"
    return f"{name} version {version}: {_reason(err)}"


def check_files(name: str, version: str, folder: Path, where: str) -> None:
    """Raise ModelFileError for the first of the model's files that is missing or unreadable."""

    def fault(file: str, what: str) -> ModelFileError:
        return ModelFileError(name, version, file, what, where)

    if not folder.is_dir():
        raise fault("the model folder", "is missing")
    mlmodel = folder / MLMODEL
    if not mlmodel.is_file():
        raise fault(MLMODEL, "is missing")
    try:
        spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise fault(MLMODEL, f"is not valid YAML ({_first_line(err)})") from None
    flavor = spec.get("flavors", {}).get("python_function") if isinstance(spec, dict) else None
    if not isinstance(flavor, dict):
        raise fault(MLMODEL, "has no python_function flavor")
    code_path = flavor.get("model_code_path")
    if code_path:
        code = folder / Path(str(code_path)).name
        if not code.is_file():
            raise fault(code.name, "is missing")
        try:
            compile(code.read_bytes(), str(code), "exec")
        except (SyntaxError, ValueError) as err:
            line = getattr(err, "lineno", None)
            raise fault(
                code.name, f"is not valid Python (line {line}: {_first_line(err)})"
            ) from None
    for artifact in (flavor.get("artifacts") or {}).values():
        relative = str(artifact.get("path", "")) if isinstance(artifact, dict) else ""
        if not relative:
            raise fault(MLMODEL, "lists an artifact without a path")
        path = folder / relative
        if not path.is_file():
            raise fault(relative, "is missing")
        try:
            joblib.load(path)
        except Exception as err:  # an unpickling or decompression error of any kind
            if _ends_early(err):
                size = path.stat().st_size
                raise fault(relative, f"is truncated: it ends after {size:,} bytes") from None
            raise fault(relative, f"is corrupted ({_reason(err)})") from None


def _ends_early(err: BaseException) -> bool:
    """True for the errors of data that stops before its end (a cut copy, a full disk)."""
    if isinstance(err, EOFError):
        return True
    text = str(err)
    lowered = text.lower()
    return "EOF" in text or any(
        sign in lowered for sign in ("ran out of input", "truncated", "exhausted", "end of")
    )


def _local_folder(source: str) -> Path | None:
    """The folder of a source on this machine's file system (None for remote stores)."""
    parsed = urlparse(source)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and source.startswith("/"):
        return Path(source)
    return None


def _reason(err: BaseException) -> str:
    text = _first_line(err)
    kind = type(err).__name__
    if not text:
        return f"{kind} (no message)"
    return f"{kind}: {text}"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else ""
