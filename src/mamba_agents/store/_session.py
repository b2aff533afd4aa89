"""A session: append-only messages and immutable states with parent pointers.

A state's context is its parent's context plus the messages it `added`, unless it sets
`context` (an explicit list of message ids, used by forks and compaction). So a turn stores
only its new message ids and storage grows with messages, not with turns × history.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamba_agents.errors import SessionError
from mamba_agents.messages import Message, new_id, utc_now
from mamba_agents.store._records import check_document

FORMAT = "mamba.session"
VERSION = 1
TITLE_LENGTH = 80
TEMP_SUFFIX = ".tmp"


def scan_folder(folder: Path) -> tuple[dict[str, tuple[int, int]], list[os.DirEntry[str]]]:
    """The session files of a folder (path: modification time in ns, size) and the temp
    files (`*.tmp`) beside them. Files deleted during the scan are left out."""
    files: dict[str, tuple[int, int]] = {}
    temps: list[os.DirEntry[str]] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.endswith(TEMP_SUFFIX):
                    temps.append(entry)
                elif entry.name.endswith(".json") and not entry.name.startswith("."):
                    with contextlib.suppress(FileNotFoundError):
                        info = entry.stat()
                        files[entry.path] = (info.st_mtime_ns, info.st_size)
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as exc:
        raise SessionError(f"{folder}: cannot list: {exc.strerror or exc}") from None
    return files, temps


def open_regular(path: Path, flags: int) -> int:
    """Open a file of the sessions folder: a regular file only, never through a symlink,
    never blocking on a named pipe a hostile folder could hold."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # a named pipe opened for writing with no reader
            raise
        raise SessionError(f"{path}: damaged session folder (not a regular file)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SessionError(f"{path}: damaged session folder (not a regular file)")
    return fd


def read_text(path: Path) -> str | None:
    """The text of a session file, or None when it is gone (deleted since it was listed)."""
    try:
        with os.fdopen(open_regular(path, os.O_RDONLY), "rb") as handle:
            return handle.read().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise SessionError(f"{path}: damaged session file (not UTF-8 text)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SessionError(f"{path}: damaged session file (a symlink)") from None
        raise SessionError(f"{path}: cannot read: {exc.strerror or exc}") from None


def parse_document(text: str, where: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON document of a session file, checked for our format and version."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SessionError(f"{where}: damaged session file ({exc})") from None
    except RecursionError:
        raise SessionError(f"{where}: damaged session file (nested too deeply)") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionError(f"{where}: not a mamba session file")
    if data.get("version") != VERSION:
        raise SessionError(
            f"{where}: unsupported session format version "
            f"{data.get('version')!r} (this mamba reads {VERSION})"
        )
    return data


def checked_document(text: str, path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The document of the session file at `path` with its message records by id, every
    field checked; the file's name is the session's identity."""
    data = parse_document(text, path)
    try:
        messages = check_document(data, path.stem)
    except ValueError as exc:
        raise SessionError(f"{path}: damaged session file ({exc})") from None
    return data, messages


@dataclass(frozen=True)
class State:
    """One immutable point in a session's history."""

    id: str
    parent_id: str | None
    created_at: str
    kind: str
    added: tuple[str, ...] = ()
    context: tuple[str, ...] | None = None
    system: str | None = None
    model: str | None = None
    status: str | None = None
    receipt: dict[str, Any] | None = None
    """A compaction's account of itself: strategy, the ids of the messages it folded or
    dropped, tokens before and after, what its model request cost."""
    user: str | None = None
    """Who made the state's requests (`[store] user`, or the operating system's user)."""

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "parent_id": self.parent_id,
            "created_at": self.created_at,
            "kind": self.kind,
            "added": list(self.added),
        }
        if self.context is not None:
            record["context"] = list(self.context)
        record["system"] = self.system
        record["model"] = self.model
        if self.status is not None:
            record["status"] = self.status
        if self.receipt is not None:
            record["receipt"] = self.receipt
        if self.user is not None:
            record["user"] = self.user
        return record

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> State:
        context = data.get("context")
        return cls(
            id=data["id"],
            parent_id=data.get("parent_id"),
            created_at=data["created_at"],
            kind=data.get("kind", "turn"),
            added=tuple(data.get("added") or ()),
            context=tuple(context) if context is not None else None,
            system=data.get("system"),
            model=data.get("model"),
            status=data.get("status"),
            receipt=data.get("receipt"),
            user=data.get("user"),
        )


@dataclass
class Session:
    """The contents of one session file. Messages and states are only ever added."""

    id: str = field(default_factory=new_id)
    title: str = ""
    created_at: str = field(default_factory=utc_now)
    updated_at: str = ""
    model: str | None = None
    cwd: str = field(default_factory=os.getcwd)
    forked_from: dict[str, str] | None = None
    head: str | None = None
    messages: dict[str, Message] = field(default_factory=dict)
    states: dict[str, State] = field(default_factory=dict)
    _fragments: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.updated_at = self.updated_at or self.created_at

    # -- reading -----------------------------------------------------------------------------
    def state(self, state_id: str | None = None) -> State | None:
        """The state with that id, or the head."""
        key = state_id or self.head
        return self.states.get(key) if key else None

    def _ancestors(self, state_id: str | None) -> Iterator[State]:
        """The state and its ancestors, newest first; a cycle of parents raises SessionError."""
        seen: set[str] = set()
        state = self.state(state_id)
        while state is not None:
            if state.id in seen:
                raise SessionError(f"session {self.id}: damaged (a cycle of states at {state.id})")
            seen.add(state.id)
            yield state
            state = self.states.get(state.parent_id) if state.parent_id else None

    def context_ids(self, state_id: str | None = None) -> list[str]:
        """Message ids forming the context at a state (default: the head)."""
        chain: list[State] = []
        for state in self._ancestors(state_id):
            chain.append(state)
            if state.context is not None:
                break
        ids: list[str] = []
        for state in reversed(chain):
            if state.context is not None:
                ids = list(state.context)
            ids.extend(state.added)
        return ids

    def compacted_prefix(self, state_id: str | None = None) -> int:
        """How many leading messages of the context at a state come from a compaction: the
        usage figures they carry describe the longer context before it."""
        for state in self._ancestors(state_id):
            if state.context is not None:
                return len(state.context) if state.kind == "compaction" else 0
        return 0

    def context(self, state_id: str | None = None) -> list[Message]:
        """The messages forming the context at a state (default: the head)."""
        return [self.messages[i] for i in self.context_ids(state_id)]

    def system_prompt(self, state_id: str | None = None) -> str | None:
        state = self.state(state_id)
        return state.system if state else None

    def lineage(self, state_id: str | None = None) -> list[State]:
        """The state and its ancestors, newest first."""
        return list(self._ancestors(state_id))

    # -- adding ------------------------------------------------------------------------------
    def add_state(
        self,
        *,
        parent_id: str | None,
        new_messages: list[Message],
        kind: str = "turn",
        system: str | None = None,
        model: str | None = None,
        context: list[str] | None = None,
        status: str | None = None,
        receipt: dict[str, Any] | None = None,
        user: str | None = None,
    ) -> State:
        """Append messages and a new state; the new state becomes the head. `user` is who
        made its requests."""
        if parent_id is not None and parent_id not in self.states:
            raise SessionError(f"session {self.id}: no state {parent_id}")
        for message in new_messages:
            self.messages[message.id] = message
        state = State(
            id=new_id(),
            parent_id=parent_id,
            created_at=utc_now(),
            kind=kind,
            added=tuple(m.id for m in new_messages),
            context=tuple(context) if context is not None else None,
            system=system,
            model=model,
            status=status,
            receipt=receipt,
            user=user,
        )
        self.states[state.id] = state
        self.head = state.id
        self.updated_at = state.created_at
        if model:
            self.model = model
        if not self.title:
            first = next((m.text for m in new_messages if m.role == "user" and m.text), "")
            self.title = " ".join(first.split())[:TITLE_LENGTH]
        return state

    def add_compaction(
        self,
        *,
        context: list[Message],
        stored: list[Message],
        receipt: dict[str, Any],
        system: str | None = None,
        model: str | None = None,
        user: str | None = None,
    ) -> State:
        """A state of kind `compaction` after the head whose context is `context` (shorter,
        with a summary message where older ones were folded). `stored` are new messages
        kept in the file (the summary, the request that wrote it). Nothing is removed:
        the states before still give the full context."""
        for message in stored:
            self.messages[message.id] = message
        return self.add_state(
            parent_id=self.head,
            new_messages=[],
            kind="compaction",
            system=system,
            model=model,
            context=[m.id for m in context],
            receipt=receipt,
            user=user,
        )

    def fork(self, state_id: str) -> Session:
        """A new session whose history is this one's up to `state_id`."""
        origin = self.state(state_id)
        if origin is None:
            raise SessionError(f"session {self.id}: no state {state_id}")
        fork = Session(
            title=self.title,
            model=origin.model or self.model,
            cwd=self.cwd,
            forked_from={"session_id": self.id, "state_id": origin.id},
        )
        messages = self.context(origin.id)
        for message in messages:
            fork.messages[message.id] = message
        fork.add_state(
            parent_id=None,
            new_messages=[],
            kind="fork",
            system=origin.system,
            model=origin.model,
            context=[m.id for m in messages],
        )
        return fork

    def merge(self, other: Session) -> None:
        """Add the messages and states of another copy of this session that we lack."""
        for key, message in other.messages.items():
            self.messages.setdefault(key, message)
        for key, state in other.states.items():
            self.states.setdefault(key, state)

    # -- serialization -----------------------------------------------------------------------
    def _fragment(self, key: str, item: Message | State) -> str:
        """The record's JSON line, made the first time it is asked for."""
        text = self._fragments.get(key)
        if text is None:
            text = json.dumps(item.to_record(), ensure_ascii=False, separators=(",", ":"))
            self._fragments[key] = text
        return text

    def to_json(self) -> str:
        """The file's text. Messages and states are immutable, so each is serialized once."""
        header = {
            "format": FORMAT,
            "version": VERSION,
            "id": self.id,
            "title": self.title,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "model": self.model,
            "cwd": self.cwd,
            "forked_from": self.forked_from,
            "head": self.head,
        }
        messages = ",\n".join(self._fragment("m" + k, m) for k, m in self.messages.items())
        states = ",\n".join(self._fragment("s" + k, s) for k, s in self.states.items())
        head = json.dumps(header, ensure_ascii=False, indent=1)[:-2]
        return f'{head},\n "messages": [\n{messages}\n],\n "states": [\n{states}\n]\n}}\n'

    @classmethod
    def from_json(cls, text: str, path: str | os.PathLike[str]) -> Session:
        """Parse the session file at `path` (its name is the session's id); a damaged or
        unknown-version file raises SessionError."""
        data, records = checked_document(text, Path(path))
        session = cls.from_document(data, records)
        session._reuse_lines(text)
        return session

    @classmethod
    def from_document(cls, data: dict[str, Any], records: dict[str, dict[str, Any]]) -> Session:
        """A session from a checked document and its message records by id."""
        return cls(
            id=data["id"],
            title=data.get("title") or "",
            created_at=data["created_at"],
            updated_at=data.get("updated_at") or data["created_at"],
            model=data.get("model"),
            cwd=data.get("cwd") or "",
            forked_from=data.get("forked_from"),
            head=data.get("head"),
            messages={key: Message.from_record(record) for key, record in records.items()},
            states={s["id"]: State.from_record(s) for s in data["states"]},
        )

    def _reuse_lines(self, text: str) -> None:
        """Keep each record's line from a file in our one-record-per-line layout as its
        serialized form, so the next save does not serialize the whole history again."""
        lines = text.split("\n")
        for marker, prefix, records in (
            (' "messages": [', "m", self.messages),
            (' "states": [', "s", self.states),
        ):
            try:
                start = lines.index(marker) + 1
            except ValueError:
                return
            block = lines[start : start + len(records)]
            if len(block) != len(records):
                return
            for key, line in zip(records, block, strict=True):
                if not line.startswith(f'{{"id":"{key}"'):
                    return
                self._fragments[prefix + key] = line.removesuffix(",")
