"""The sandbox: which paths the built-in tools may touch. Owned by the runtime; a tool's
schema never shows it, so the model cannot choose its own sandbox."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mamba_agents.errors import ToolExecutionError
from mamba_agents.tools._ignore import Entry


def join_display(prefix: str, rel: str) -> str:
    """A walked entry's shown path: its folder's shown path joined with its relative path."""
    if prefix == ".":
        return rel
    return f"{prefix}/{rel}" if rel else prefix


class SandboxError(ToolExecutionError):
    """A path was refused; the message names the rule."""


def shown_path(absolute: str | os.PathLike[str], base: str | os.PathLike[str]) -> str:
    """An absolute path as the tools and the rules show it: relative to `base` when inside
    it (`.` for `base` itself), else as it is."""
    text, root = os.fspath(absolute), os.fspath(base).rstrip("/")
    if text.startswith(root + "/"):
        return text[len(root) + 1 :] or "."
    return "." if text == (root or "/") else text


def _normalise(extensions: Iterable[str] | None) -> frozenset[str]:
    return frozenset((e if e.startswith(".") else f".{e}").lower() for e in (extensions or ()) if e)


def extensions_of(name: str) -> list[str]:
    """Every extension a file name can be said to have, lower-cased: `a.tar.gz` has `.gz`
    and `.tar.gz`; a dotfile's name is an extension too (`.env`, and `.env.local` has
    `.local`, `.env.local` and `.env`)."""
    name = name.lower()
    found = []
    dot = name.find(".", 1)
    while dot >= 0:
        found.append(name[dot:])
        dot = name.find(".", dot + 1)
    if name.startswith(".") and len(name) > 1:
        found.append(name)
        found.append(name[: name.find(".", 1)] if name.find(".", 1) > 0 else name)
    return list(dict.fromkeys(found))


_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
# Where an open descriptor's real path can be read back (Linux), if anywhere.
_FD_PATHS = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else ""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


@dataclass(frozen=True)
class FilesystemSecurity:
    """Sandbox rules for the file tools.

    Relative paths resolve against `base_directory`. With `sandbox_mode` (the default) any
    path whose real location (symlinks followed) is outside the base is refused, and files
    are opened without following any symlink past that check. Extension rules ignore case
    and never apply to directories. `hidden` (a path relative to the base -> bool) leaves
    paths out of listings and searches (the permission policy's read-deny rules).
    """

    base_directory: str | os.PathLike[str] = field(default_factory=os.getcwd)
    sandbox_mode: bool = True
    allowed_extensions: Iterable[str] | None = None
    denied_extensions: Iterable[str] | None = None
    max_file_size: int = 10_000_000
    hidden: Callable[[str], bool] | None = field(default=None, repr=False, compare=False)
    _base: Path = field(init=False, repr=False, compare=False)
    _prefix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_directory", Path(self.base_directory).expanduser())
        object.__setattr__(self, "allowed_extensions", _normalise(self.allowed_extensions))
        object.__setattr__(self, "denied_extensions", _normalise(self.denied_extensions))
        object.__setattr__(self, "_base", Path(self.base_directory).resolve())
        object.__setattr__(self, "_prefix", str(self._base).rstrip("/") + "/")

    @property
    def base(self) -> Path:
        """The base directory, with symlinks resolved."""
        return self._base

    def resolve(self, path: str | os.PathLike[str], *, follow_final: bool = True) -> Path:
        """The real path for `path`, or SandboxError naming the rule that refuses it.

        With `follow_final=False` a symlink named by `path` is the path itself (what
        deleting or moving it acts on); the folders above it are still resolved.
        """
        raw = Path(path).expanduser()
        candidate = raw if raw.is_absolute() else Path(self.base_directory) / raw
        if follow_final or candidate.name in ("", ".", ".."):
            real = candidate.resolve()
        else:
            real = candidate.parent.resolve() / candidate.name
        if self.sandbox_mode and not self.inside(real):
            how = (
                "is a symlink that leads"
                if candidate.absolute() != real
                and self.inside(Path(os.path.normpath(candidate.absolute())))
                else "is"
            )
            raise SandboxError(f"sandbox: '{path}' {how} outside {self.base}")
        self.check_extension(real, is_dir=None if follow_final else False)
        return real

    def inside(self, real: str | os.PathLike[str]) -> bool:
        """Whether a resolved path lies in the base directory."""
        text = os.fspath(real)
        return text.startswith(self._prefix) or text == self._prefix[:-1] or self._prefix == "/"

    def check_extension(self, real: Path, *, is_dir: bool | None = None) -> None:
        """Refuse a file whose extension the rules exclude (directories always pass)."""
        if not self.allowed_extensions and not self.denied_extensions:
            return
        if real.is_dir() if is_dir is None else is_dir:
            return
        extensions = extensions_of(real.name)
        denied = next((e for e in extensions if e in self.denied_extensions), None)
        if denied:
            raise SandboxError(f"sandbox: extension '{denied}' is denied ({real.name})")
        if self.allowed_extensions and not any(e in self.allowed_extensions for e in extensions):
            allowed = ", ".join(sorted(self.allowed_extensions))
            shown = extensions[0] if extensions else "(none)"
            raise SandboxError(
                f"sandbox: extension '{shown}' is not allowed ({real.name}); allowed: {allowed}"
            )

    def allows_entry(self, entry: Entry) -> bool:
        """`allows` for an entry met by walking a resolved folder inside the sandbox: only a
        symlink needs resolving, since the walk never enters symlinked folders."""
        if entry.is_symlink:
            return self.allows(Path(entry.path))
        if self.hidden is not None and self.hidden(self.display(entry.path)):
            return False
        if not self.allowed_extensions and not self.denied_extensions:
            return True
        try:
            self.check_extension(Path(entry.rel), is_dir=entry.is_dir)
        except SandboxError:
            return False
        return True

    def allows(self, path: Path) -> bool:
        """Whether a path found by listing or searching may be shown (no exception)."""
        try:
            real = path.resolve()
        except OSError:
            return False
        if self.sandbox_mode and not self.inside(real):
            return False
        if self.hidden is not None and (
            self.hidden(self.display(real)) or self.hidden(self.display(path.absolute()))
        ):
            return False
        try:
            self.check_extension(real)
        except SandboxError:
            return False
        return True

    # -- opening without following links past the check ---------------------------------------
    def _confined(self, real: str | os.PathLike[str]) -> bool:
        return self.sandbox_mode and self.inside(real)

    @contextlib.contextmanager
    def folder(self, real: Path, *, create: bool = False) -> Iterator[int]:
        """A descriptor of a resolved folder, opened one component at a time from the
        sandbox base without following symlinks (created with `create`), so a symlink
        swapped in after `resolve` cannot lead outside."""
        if not self._confined(real):
            if create:
                real.mkdir(parents=True, exist_ok=True)
            fd = os.open(real, _DIRECTORY_FLAGS & ~os.O_NOFOLLOW)
        else:
            fd = os.open(self.base, _DIRECTORY_FLAGS)
            try:
                for part in real.relative_to(self.base).parts:
                    fd = self._step(fd, part, create)
            except BaseException:
                os.close(fd)
                raise
        try:
            yield fd
        finally:
            os.close(fd)

    def _step(self, fd: int, part: str, create: bool) -> int:
        """The descriptor of folder `part` inside folder `fd` (which it closes)."""
        try:
            try:
                return os.open(part, _DIRECTORY_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
                return os.open(part, _DIRECTORY_FLAGS, dir_fd=fd)
            except NotADirectoryError:
                if stat.S_ISLNK(os.lstat(part, dir_fd=fd).st_mode):
                    raise SandboxError(
                        f"sandbox: a symlink appeared at '{part}' while it was being opened"
                    ) from None
                raise
        finally:
            os.close(fd)

    def open_file(self, real: Path | str, flags: int, *, create_parents: bool = False) -> int:
        """Open a resolved regular file and return its descriptor.

        Inside the sandbox no symlink swapped in after `resolve` can lead outside: a file
        opened for reading is checked where it really is once open, and for writing no
        symlink is followed on the way. Named pipes, sockets and devices are refused
        before anything could block on them.
        """
        writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
        if not self._confined(real):
            fd = os.open(real, flags | (_FILE_FLAGS & ~os.O_NOFOLLOW), 0o666)
        elif not writing and _FD_PATHS:
            fd = os.open(real, flags | _FILE_FLAGS)
            if not self.inside(os.readlink(f"{_FD_PATHS}/{fd}")):
                os.close(fd)
                raise SandboxError(f"sandbox: {self.display(real)} changed while being opened")
        else:
            fd = self._open_beneath(Path(real), flags, create_parents)
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise SandboxError(f"{self.display(real)}: {_kind(mode)}, not a regular file")
        # O_NONBLOCK, which kept a named pipe from blocking the open, means nothing for a
        # regular file: reads and writes behave as usual.
        return fd

    def _open_beneath(self, real: Path, flags: int, create_parents: bool) -> int:
        """Open a file inside the sandbox one component at a time, following no symlink."""
        with self.folder(real.parent, create=create_parents) as parent:
            try:
                info = os.lstat(real.name, dir_fd=parent)
            except FileNotFoundError:
                info = None
            if info is not None and not stat.S_ISREG(info.st_mode):
                raise SandboxError(
                    f"{self.display(real)}: {_kind(info.st_mode)}, not a regular file"
                )
            try:
                return os.open(real.name, flags | _FILE_FLAGS, 0o666, dir_fd=parent)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENXIO):
                    raise SandboxError(
                        f"sandbox: {self.display(real)} changed while being opened"
                    ) from None
                raise

    def display(self, real: str | os.PathLike[str]) -> str:
        """A path as shown to the model: relative to the base when inside it."""
        return shown_path(real, self._base)

    def check_size(self, real: Path, size: int | None = None) -> None:
        """Refuse a file over `max_file_size` (`size`: already known, e.g. from fstat)."""
        size = real.stat().st_size if size is None else size
        if size > self.max_file_size:
            raise SandboxError(
                f"sandbox: {self.display(real)} is {size} bytes, over the "
                f"{self.max_file_size}-byte limit"
            )
