"""The sandbox: which paths the built-in tools may touch. Owned by the runtime; a tool's
schema never shows it, so the model cannot choose its own sandbox."""

from __future__ import annotations

import os
from collections.abc import Iterable
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


def _normalise(extensions: Iterable[str] | None) -> frozenset[str]:
    return frozenset((e if e.startswith(".") else f".{e}").lower() for e in (extensions or ()) if e)


@dataclass(frozen=True)
class FilesystemSecurity:
    """Sandbox rules for the file tools.

    Relative paths resolve against `base_directory`. With `sandbox_mode` (the default) any
    path whose real location (symlinks followed) is outside the base is refused. Extension
    rules ignore case and never apply to directories.
    """

    base_directory: str | os.PathLike[str] = field(default_factory=os.getcwd)
    sandbox_mode: bool = True
    allowed_extensions: Iterable[str] | None = None
    denied_extensions: Iterable[str] | None = None
    max_file_size: int = 10_000_000
    _base: Path = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_directory", Path(self.base_directory).expanduser())
        object.__setattr__(self, "allowed_extensions", _normalise(self.allowed_extensions))
        object.__setattr__(self, "denied_extensions", _normalise(self.denied_extensions))
        object.__setattr__(self, "_base", Path(self.base_directory).resolve())

    @property
    def base(self) -> Path:
        """The base directory, with symlinks resolved."""
        return self._base

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """The real path for `path`, or SandboxError naming the rule that refuses it."""
        raw = Path(path).expanduser()
        candidate = raw if raw.is_absolute() else Path(self.base_directory) / raw
        real = candidate.resolve()
        if self.sandbox_mode and not self.inside(real):
            how = (
                "is a symlink that leads"
                if candidate.absolute() != real
                and self.inside(Path(os.path.normpath(candidate.absolute())))
                else "is"
            )
            raise SandboxError(f"sandbox: '{path}' {how} outside {self.base}")
        self.check_extension(real)
        return real

    def inside(self, real: Path) -> bool:
        """Whether a resolved path lies in the base directory."""
        return real == self.base or real.is_relative_to(self.base)

    def check_extension(self, real: Path, *, is_dir: bool | None = None) -> None:
        """Refuse a file whose extension the rules exclude (directories always pass)."""
        if real.is_dir() if is_dir is None else is_dir:
            return
        suffix = real.suffix.lower()
        if suffix in self.denied_extensions:
            raise SandboxError(f"sandbox: extension '{suffix}' is denied ({real.name})")
        if self.allowed_extensions and suffix not in self.allowed_extensions:
            allowed = ", ".join(sorted(self.allowed_extensions))
            raise SandboxError(
                f"sandbox: extension '{suffix or '(none)'}' is not allowed "
                f"({real.name}); allowed: {allowed}"
            )

    def allows_entry(self, entry: Entry) -> bool:
        """`allows` for an entry met by walking a resolved folder inside the sandbox: only a
        symlink needs resolving, since the walk never enters symlinked folders."""
        if entry.is_symlink:
            return self.allows(Path(entry.path))
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
        try:
            self.check_extension(real)
        except SandboxError:
            return False
        return True

    def display(self, real: Path) -> str:
        """A path as shown to the model: relative to the base when inside it."""
        try:
            relative = real.relative_to(self.base)
        except ValueError:
            return str(real)
        return relative.as_posix() or "."

    def check_size(self, real: Path) -> None:
        size = real.stat().st_size
        if size > self.max_file_size:
            raise SandboxError(
                f"sandbox: {self.display(real)} is {size} bytes, over the "
                f"{self.max_file_size}-byte limit"
            )
