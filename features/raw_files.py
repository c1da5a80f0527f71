"""The bytes of a sales file, read only from a regular file, decompressed, and bounded.

A sales export may come gzipped, bzip2-ed or zipped (one file inside); a path naming a FIFO or
a device (`/dev/zero`) would hang or fill memory, so only regular files are read. Decompressed
data is read in chunks up to `MAX_BYTES`, so a small archive cannot expand without bound.
"""

from __future__ import annotations

import bz2
import gzip
import io
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from features.errors import DataProblem, DataValidationError

#: Largest sales file accepted, after decompression (a year of 10k series daily is ~300 MB).
MAX_BYTES = 4 * 1024**3
#: Most columns a sales file may have (real exports have tens; 2M columns ran out of memory).
MAX_COLUMNS = 2_000
#: Suffixes read as compressed CSV, and how.
COMPRESSED = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bzip2", ".zip": "zip"}
_CHUNK = 16 * 1024**2


def _problem(code: str, message: str, path: Path, hint: str | None = None) -> DataValidationError:
    return DataValidationError([DataProblem(code, message, file=str(path), hint=hint)])


def check_regular(path: Path) -> None:
    """Refuse anything but a regular file (a folder, FIFO, socket or device) by name."""
    if not path.exists():
        raise _problem("file_not_found", "the file does not exist", path)
    if path.is_dir():
        raise _problem("file_not_found", "the path is a folder, not a file", path)
    if not path.is_file():
        raise _problem(
            "not_a_file",
            "the path is not a regular file (a pipe, socket or device)",
            path,
            hint="export the sales to a file and pass that",
        )


def read_bytes(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The file's bytes, decompressed when its name ends in .gz, .bz2 or .zip."""
    check_regular(path)
    kind = COMPRESSED.get(path.suffix.lower())
    try:
        if kind is None:
            if path.stat().st_size > max_bytes:
                raise _too_large(path, max_bytes)
            return path.read_bytes()
        if kind == "zip":
            return _from_zip(path, max_bytes)
        opener = gzip.open if kind == "gzip" else bz2.open
        with opener(path, "rb") as stream:
            return _bounded(stream, path, max_bytes)
    except (OSError, EOFError, zipfile.BadZipFile, ValueError, zlib.error) as err:
        if isinstance(err, DataValidationError):
            raise
        raise _problem(
            "bad_archive",
            f"the file cannot be decompressed as {kind or 'a file'} ({err})",
            path,
            hint="export it again, or decompress it and pass the CSV",
        ) from None


def _from_zip(path: Path, max_bytes: int) -> bytes:
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1:
            raise _problem(
                "bad_archive",
                f"the zip file holds {len(members)} files; it must hold exactly one CSV",
                path,
                hint="zip one sales file, or unzip it and pass the CSV",
            )
        with archive.open(members[0]) as stream:
            return _bounded(stream, path, max_bytes)


def _bounded(stream: BinaryIO, path: Path, max_bytes: int) -> bytes:
    out = io.BytesIO()
    while chunk := stream.read(_CHUNK):
        out.write(chunk)
        if out.tell() > max_bytes:
            raise _too_large(path, max_bytes)
    return out.getvalue()


def _too_large(path: Path, max_bytes: int) -> DataValidationError:
    return _problem(
        "file_too_large",
        f"the file holds more than {max_bytes / 1024**3:.0f} GiB of sales",
        path,
        hint="export a shorter period, or fewer shops per file",
    )


def check_width(header_sample: str, delimiter: str, path: Path) -> None:
    """Refuse a header with more than MAX_COLUMNS fields before pandas tries to read it."""
    first_line = header_sample.split("\n", 1)[0]
    fields = first_line.count(delimiter) + 1
    if fields > MAX_COLUMNS:
        raise DataValidationError(
            [
                DataProblem(
                    "too_many_columns",
                    f"the header has {fields:,}{'+' if chr(10) not in header_sample else ''} "
                    f"columns; at most {MAX_COLUMNS:,} are read",
                    file=str(path),
                    rows=(1,),
                    hint="check the delimiter (--delimiter), or export fewer columns",
                )
            ]
        )
