"""File tools: read, write, edit, append, list, info, delete, move, copy; all through the
sandbox."""

from __future__ import annotations

import difflib
import errno
import os
import shutil
import stat
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from mamba_agents.tools._ignore import walk
from mamba_agents.tools._security import FilesystemSecurity, SandboxError, join_display
from mamba_agents.tools.bash import DEFAULT_OUTPUT_LIMIT, cap_text

__all__ = [
    "DirectoryListing",
    "FileEntry",
    "FilesystemSecurity",
    "SandboxError",
    "append_file",
    "copy_file",
    "delete_file",
    "edit_file",
    "file_info",
    "list_directory",
    "move_file",
    "read_file",
    "write_file",
]

DEFAULT_MAX_ENTRIES = 500


def _security(security: FilesystemSecurity | None) -> FilesystemSecurity:
    return security if security is not None else FilesystemSecurity()


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class FileEntry:
    """One file or directory: path relative to the sandbox base, type, size, times."""

    path: str
    type: str
    size: int
    modified: str
    created: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class DirectoryListing:
    """Entries of a directory, sorted; `truncated` says the cap cut the list."""

    path: str
    entries: list[FileEntry]
    truncated: bool = False

    def to_text(self) -> str:
        lines = [
            f"{e.path}/" if e.type == "directory" else f"{e.path}  ({e.size} bytes)"
            for e in self.entries
        ]
        if not lines:
            lines.append(f"(empty: {self.path})")
        if self.truncated:
            lines.append(f"[listing truncated at {len(self.entries)} entries]")
        return "\n".join(lines)


def _entry(real: Path, shown: str) -> FileEntry:
    # lstat: a symlink swapped in after the sandbox check shows as the link, not its target.
    info = real.lstat()
    created = getattr(info, "st_birthtime", None)
    return FileEntry(
        path=shown,
        type="directory" if stat.S_ISDIR(info.st_mode) else "file",
        size=info.st_size,
        modified=_stamp(info.st_mtime),
        created=_stamp(created) if created else None,
    )


def read_file(
    path: str, encoding: str = "utf-8", security: FilesystemSecurity | None = None
) -> str:
    """Read the contents of a text file.

    Args:
        path: File path, relative to the working directory.
        encoding: Text encoding.
    """
    _check_encoding(encoding)
    security = _security(security)
    real = _resolve_file(security, path)
    with os.fdopen(security.open_file(real, os.O_RDONLY), "rb") as handle:
        data = _read_within_limit(security, real, handle)
    return data.decode(encoding, errors="replace")


def _resolve_file(security: FilesystemSecurity, path: str) -> Path:
    """The real path of a file, refusing a directory."""
    real = security.resolve(path)
    if real.is_dir():
        raise IsADirectoryError(f"{path} is a directory; use list_directory")
    return real


def _read_within_limit(security: FilesystemSecurity, real: Path, handle: BinaryIO) -> bytes:
    """An open file's contents, refused when over the size limit (checked before and after
    reading, so a file growing meanwhile is refused too)."""
    security.check_size(real, os.fstat(handle.fileno()).st_size)
    data = handle.read(security.max_file_size + 1)
    security.check_size(real, len(data))
    return data


_ASCII = bytes(range(32, 127)).decode("ascii")


def _check_encoding(encoding: str) -> None:
    """Only encodings that read ASCII as ASCII (UTF-8, Latin-1, cp1252, ...): another one
    (EBCDIC, UTF-16) would turn text such as a key into a disguised copy that masking
    cannot recognise."""
    try:
        same = _ASCII.encode(encoding) == _ASCII.encode("ascii")
    except (LookupError, UnicodeError, TypeError):
        same = False
    if not same:
        raise ValueError(
            f"encoding {encoding!r} is not supported: use one that reads ASCII as ASCII, "
            "such as utf-8 or latin-1"
        )


def _check_new_size(security: FilesystemSecurity, size: int) -> None:
    if size > security.max_file_size:
        raise SandboxError(f"sandbox: {size} bytes is over the {security.max_file_size}-byte limit")


def write_file(path: str, content: str, security: FilesystemSecurity | None = None) -> str:
    """Write a file, replacing what it held; parent directories are created.

    Args:
        path: File path, relative to the working directory.
        content: The complete new contents.
    """
    security = _security(security)
    real = security.resolve(path)
    data = content.encode("utf-8")
    _check_new_size(security, len(data))
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    with os.fdopen(security.open_file(real, flags, create_parents=True), "wb") as handle:
        handle.write(data)
    return f"wrote {len(data)} bytes to {security.display(real)}"


def edit_file(
    path: str,
    old_string: str,
    new_string: str,
    replace_all: bool = False,
    security: FilesystemSecurity | None = None,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
) -> str:
    """Replace an exact piece of text in a UTF-8 file; the rest of the file is kept byte for
    byte. `old_string` must occur exactly once unless `replace_all` is set. Returns a
    summary line and a unified diff.

    Args:
        path: File path, relative to the working directory.
        old_string: The exact text to replace, whitespace and indentation included.
        new_string: The text to put in its place.
        replace_all: Replace every occurrence instead of requiring a unique one.
    """
    _check_edit(path, old_string, new_string)
    security = _security(security)
    real = _resolve_file(security, path)
    _check_not_hidden(security, path, real)
    with os.fdopen(_open_for_edit(security, real, path), "r+b") as handle:
        before = _utf8_text(path, _read_within_limit(security, real, handle))
        after, count = _replace(path, before, old_string, new_string, replace_all)
        data = after.encode("utf-8")
        _check_new_size(security, len(data))
        handle.seek(0)
        handle.write(data)
        handle.truncate()
    return _edit_report(security.display(real), count, before, after, output_limit)


def _check_edit(path: str, old_string: str, new_string: str) -> None:
    if not old_string:
        raise ValueError(
            f"old_string is empty; to edit {path} give the exact text to replace "
            "(use write_file to create or replace a whole file)"
        )
    if old_string == new_string:
        raise ValueError(f"old_string and new_string are the same; {path} would not change")


def _check_not_hidden(
    security: FilesystemSecurity, path: str, real: Path, tool: str = "edit_file"
) -> None:
    """Refuse a file that rules keep from being read (they hide it from searches): an edit's
    diff shows what the file holds, and a copy or a move would put it where it can be read."""
    hidden = security.hidden
    if hidden is not None and (hidden(path) or hidden(security.display(real))):
        raise SandboxError(
            f"{path} is covered by a deny or ask rule on reading it, so {tool} cannot take it"
        )


def _open_for_edit(security: FilesystemSecurity, real: Path, path: str) -> int:
    """A descriptor to read and write an existing file, opened through the sandbox (no
    symlink followed on the way)."""
    try:
        return security.open_file(real, os.O_RDWR)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no such file: {path} (edit_file changes existing files; use write_file to create one)"
        ) from None


def _utf8_text(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not valid UTF-8 text (byte {exc.start}); edit_file leaves it unchanged"
        ) from None


def _replace(path: str, text: str, old: str, new: str, replace_all: bool) -> tuple[str, int]:
    """`text` with `old` replaced, and how many times; refused unless `old` is unique or
    `replace_all` is set."""
    count = text.count(old)
    if count == 0:
        raise ValueError(f"old_string not found in {path}; read the file and copy the text exactly")
    if count > 1 and not replace_all:
        raise ValueError(
            f"old_string occurs {count} times in {path}; add surrounding lines to make it "
            "unique, or set replace_all"
        )
    return text.replace(old, new), count


def _edit_report(shown: str, count: int, before: str, after: str, limit: int) -> str:
    """One summary line, then the unified diff (cut to about `limit` bytes)."""
    diff = list(
        difflib.unified_diff(_lines(before), _lines(after), f"a/{shown}", f"b/{shown}", n=3)
    )
    added = sum(line.startswith("+") for line in diff[2:])
    removed = sum(line.startswith("-") for line in diff[2:])
    plural = "replacement" if count == 1 else "replacements"
    summary = f"edited {shown}: {count} {plural}, +{added} -{removed} lines"
    text = "".join(
        line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n" for line in diff
    ).removesuffix("\n")
    return f"{summary}\n{cap_text(text, limit)}"


def _lines(text: str) -> list[str]:
    """Lines split at `\\n` only, each keeping its line end (a diff of the bytes as they
    are: `\\r\\n` stays, and no other character counts as a line break)."""
    lines = [f"{line}\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def append_file(path: str, content: str, security: FilesystemSecurity | None = None) -> str:
    """Append text to the end of a file (created if missing).

    Args:
        path: File path, relative to the working directory.
        content: Text to append.
    """
    security = _security(security)
    real = security.resolve(path)
    data = content.encode("utf-8")
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    with os.fdopen(security.open_file(real, flags, create_parents=True), "ab") as handle:
        if os.fstat(handle.fileno()).st_size + len(data) > security.max_file_size:
            raise SandboxError(
                f"sandbox: the file would exceed the {security.max_file_size}-byte limit"
            )
        handle.write(data)
    return f"appended {len(data)} bytes to {security.display(real)}"


def list_directory(
    path: str = ".",
    recursive: bool = False,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    security: FilesystemSecurity | None = None,
) -> DirectoryListing:
    """List a directory's files and folders with size and modification time.

    Skips .git, node_modules, virtual environments and files ignored by .gitignore.

    Args:
        path: Directory, relative to the working directory.
        recursive: Include everything below it.
        max_entries: Most entries to return.
    """
    security = _security(security)
    real = security.resolve(path)
    if not real.is_dir():
        raise NotADirectoryError(f"{path} is not a directory")
    prefix = security.display(real)
    entries: list[FileEntry] = []
    truncated = False
    for entry in walk(real, include_dirs=True, recursive=recursive):
        if not security.allows_entry(entry):
            continue
        if len(entries) >= max_entries:
            truncated = True
            break
        entries.append(_entry(Path(entry.path), join_display(prefix, entry.rel)))
    entries.sort(key=lambda e: e.path)
    return DirectoryListing(security.display(real), entries, truncated)


def file_info(path: str, security: FilesystemSecurity | None = None) -> FileEntry:
    """Metadata of a file or directory: type, size, modified and created times.

    Args:
        path: File or directory, relative to the working directory.
    """
    security = _security(security)
    real = security.resolve(path)
    if not real.exists():
        raise FileNotFoundError(f"no such file or directory: {path}")
    return _entry(real, security.display(real))


def delete_file(path: str, security: FilesystemSecurity | None = None) -> str:
    """Delete a file (not a directory). A symlink is deleted itself, not what it points to.

    Args:
        path: File path, relative to the working directory.
    """
    security = _security(security)
    real = security.resolve(path, follow_final=False)
    with security.folder(real.parent) as parent:
        try:
            info = os.lstat(real.name, dir_fd=parent)
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file: {path}") from None
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(f"{path} is a directory; delete_file removes files only")
        os.unlink(real.name, dir_fd=parent)
    return f"deleted {security.display(real)}"


def move_file(source: str, destination: str, security: FilesystemSecurity | None = None) -> str:
    """Move or rename a file or directory. A symlink is moved itself, not what it points to.

    Args:
        source: What to move.
        destination: The new path.
    """
    security = _security(security)
    src = security.resolve(source, follow_final=False)
    _check_not_hidden(security, source, src, "move_file")
    dst = security.resolve(destination)
    if dst.is_dir():
        dst = security.resolve(dst / src.name, follow_final=False)
    with (
        security.folder(src.parent) as src_dir,
        security.folder(dst.parent, create=True) as dst_dir,
    ):
        if not os.path.lexists(src):
            raise FileNotFoundError(f"no such file or directory: {source}")
        try:
            os.rename(src.name, dst.name, src_dir_fd=src_dir, dst_dir_fd=dst_dir)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            shutil.move(src, dst)  # another file system: copy, then remove
    return f"moved {security.display(src)} to {security.display(dst)}"


def copy_file(source: str, destination: str, security: FilesystemSecurity | None = None) -> str:
    """Copy a file.

    Args:
        source: The file to copy.
        destination: The path of the copy.
    """
    security = _security(security)
    src, dst = security.resolve(source), security.resolve(destination)
    _check_not_hidden(security, source, src, "copy_file")
    if src.is_dir():
        raise IsADirectoryError(f"{source} is a directory; copy_file copies files only")
    if dst.is_dir():
        dst = security.resolve(dst / src.name)
    with os.fdopen(security.open_file(src, os.O_RDONLY), "rb") as reader:
        info = os.fstat(reader.fileno())
        security.check_size(src, info.st_size)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        with os.fdopen(security.open_file(dst, flags, create_parents=True), "wb") as writer:
            shutil.copyfileobj(reader, writer)
            os.fchmod(writer.fileno(), stat.S_IMODE(info.st_mode))
            os.utime(writer.fileno(), ns=(info.st_atime_ns, info.st_mtime_ns))
    return f"copied {security.display(src)} to {security.display(dst)}"
