"""The artifact store: one folder per batch, addressed by a URL, written atomically.

Parallel tasks never write the same file: each record is named by what makes it unique
(batch, ticket, stage or checkpoint, try), and batch-wide state is derived by listing records.
`file://` is the embedded default; any fsspec URL (s3://, gs://, ...) works in production, which is
what Airflow's ObjectStoragePath uses underneath.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
from pathlib import Path, PurePosixPath
from typing import TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_SAFE_PART = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._=+-]{0,127}\Z")


def write_bytes_atomic(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Write via a temporary file in the same folder and rename: readers never see half a file.

    The one atomic file write of Nightshift. With `overwrite=False` the temporary file is hard-linked
    into place instead (`os.link` fails when the name exists): of two racing writers exactly one file
    stands, and the other gets FileExistsError.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str, *, overwrite: bool = True) -> None:
    """`write_bytes_atomic` for UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)


class ArtifactPathError(ValueError):
    """A record name that would leave the batch folder."""


def _check_relpath(relpath: str) -> str:
    parts = PurePosixPath(relpath).parts
    if not parts or any(not _SAFE_PART.match(p) or p in (".", "..") for p in parts):
        raise ArtifactPathError(f"{relpath!r} is not a safe artifact path")
    return "/".join(parts)


class ArtifactStore:
    """Root of all batches' artifacts."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        split = urlsplit(self.url)
        self._local: Path | None = None
        self._fs = None
        if split.scheme in ("", "file"):
            self._local = Path(split.path if split.scheme else self.url)
        else:
            import fsspec  # production object storage; not needed for the embedded default

            self._fs, self._root = fsspec.core.url_to_fs(self.url)

    def batch_ids(self) -> list[str]:
        """The batch folders in the store (batch ids start with their date, so this sorts by age)."""
        return self._list("")

    def batch(self, batch_id: str) -> BatchArtifacts:
        return BatchArtifacts(self, _check_relpath(batch_id))

    # -- primitive operations on store-relative paths --
    def _write_bytes(self, relpath: str, data: bytes) -> None:
        if self._local is not None:
            write_bytes_atomic(self._local / relpath, data)
            return
        assert self._fs is not None
        # Object stores replace whole objects on put: a reader sees the old or the new object.
        tmp_name = f"{self._root}/{relpath}.{uuid.uuid4().hex}.tmp"
        self._fs.pipe_file(tmp_name, data)
        self._fs.mv(tmp_name, f"{self._root}/{relpath}")

    def _read_bytes(self, relpath: str) -> bytes | None:
        if self._local is not None:
            try:
                return (self._local / relpath).read_bytes()
            except FileNotFoundError:
                return None
        assert self._fs is not None
        try:
            return bytes(self._fs.cat_file(f"{self._root}/{relpath}"))
        except FileNotFoundError:
            return None

    def _list(self, relprefix: str) -> list[str]:
        if self._local is not None:
            base = self._local / relprefix
            if not base.is_dir():
                return []
            return sorted(p.name for p in base.iterdir() if not p.name.startswith("."))
        assert self._fs is not None
        try:
            entries = self._fs.ls(f"{self._root}/{relprefix}", detail=False)
        except FileNotFoundError:
            return []
        return sorted(PurePosixPath(e).name for e in entries if not e.endswith(".tmp"))

    def local_path(self, relpath: str) -> Path | None:
        return None if self._local is None else self._local / relpath


class BatchArtifacts:
    """The folder of one batch."""

    def __init__(self, store: ArtifactStore, batch_id: str) -> None:
        self.store = store
        self.batch_id = batch_id

    @property
    def url(self) -> str:
        return f"{self.store.url}/{self.batch_id}"

    def _rel(self, relpath: str) -> str:
        return f"{self.batch_id}/{_check_relpath(relpath)}"

    def write_text(self, relpath: str, text: str) -> str:
        self.store._write_bytes(self._rel(relpath), text.encode("utf-8"))
        return f"{self.url}/{relpath}"

    def read_text(self, relpath: str) -> str | None:
        data = self.store._read_bytes(self._rel(relpath))
        return None if data is None else data.decode("utf-8")

    def exists(self, relpath: str) -> bool:
        return self.store._read_bytes(self._rel(relpath)) is not None

    def list(self, folder: str) -> list[str]:
        """Names of the records in `folder` (not recursive)."""
        return self.store._list(self._rel(folder))

    def write_model(self, relpath: str, model: BaseModel) -> str:
        return self.write_text(relpath, model.model_dump_json(indent=2))

    def read_model(self, relpath: str, model_type: type[M]) -> M | None:
        """Read and re-validate a record; None when absent."""
        text = self.read_text(relpath)
        return None if text is None else model_type.model_validate_json(text)

    def write_json(self, relpath: str, data: object) -> str:
        return self.write_text(relpath, json.dumps(data, indent=2, sort_keys=True, default=str))

    def local_path(self, relpath: str = "") -> Path | None:
        return self.store.local_path(self._rel(relpath) if relpath else self.batch_id)
