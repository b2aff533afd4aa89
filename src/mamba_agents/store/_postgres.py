"""The PostgreSQL store: a team's sessions in one database.

It keeps the immutable state model: a state is inserted once and never changed, a message is
stored once and shared by id between the sessions that hold it (a fork links its origin's
messages, it does not copy them), so storage grows with messages, not with turns × history.
Only a session's header (title, head, last update) changes. Saving inserts what the store
lacks, in one transaction; two machines continuing one session at once both keep their
turns, and the later save becomes the head (the other turn stays a branch to resume by its
state id), as with two processes on the session files.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mamba_agents.errors import SessionError
from mamba_agents.store._base import Reports, SessionRef, Store
from mamba_agents.store._index_rows import epoch, searched_text, session_rows
from mamba_agents.store._pg_index import PostgresIndex
from mamba_agents.store._pg_schema import SCHEMA_VERSION, migrate, schema_version
from mamba_agents.store._records import check_document
from mamba_agents.store._session import FORMAT, VERSION, Session

CONNECT_TIMEOUT = 10  # seconds
_HEADER = "id, title, created_at, updated_at, model, cwd, forked_from, head"


def redact_url(url: str) -> str:
    """`url` without its password (in the address or a `password=` parameter)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        account, _, host = netloc.rpartition("@")
        name, colon, _password = account.partition(":")
        netloc = f"{name}:****@{host}" if colon else netloc
    query = "&".join(
        "password=****" if item.lower().startswith("password=") else item
        for item in parts.query.split("&")
        if item
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


class PostgresStore(Store):
    """Sessions in a PostgreSQL database (`postgresql://user@host/db`; the password may
    come from `PGPASSWORD` or `~/.pgpass`). The tables are made, or upgraded, on first use."""

    def __init__(self, url: str, *, migrate_schema: bool = True):
        if not is_postgres_url(url):
            raise SessionError(f"store url: expected postgresql://..., got {redact_url(url)!r}")
        self.where = redact_url(url)
        try:
            import psycopg
        except ImportError:
            raise SessionError(
                "the PostgreSQL store needs psycopg: pip install 'mamba-agents[postgres]'"
            ) from None
        self._errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        try:
            self._conn = psycopg.connect(
                url, connect_timeout=CONNECT_TIMEOUT, application_name="mamba"
            )
        except psycopg.Error as exc:
            raise SessionError(f"{self.where}: cannot connect: {_first_line(exc)}") from None
        self.index = PostgresIndex(self._query)
        # The states and messages of each session the database is known to hold.
        self._known: dict[str, tuple[set[str], set[str]]] = {}
        if migrate_schema:
            self.init_schema()

    @classmethod
    def connect(cls, url: str) -> PostgresStore:
        """Open the store at `url` (immagent's `Store.connect`)."""
        return cls(url)

    # -- plumbing ----------------------------------------------------------------------------
    def _query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Rows of one statement in its own transaction; database errors become SessionError."""
        try:
            with self._conn.transaction():
                return list(self._conn.execute(sql, params).fetchall())
        except self._errors as exc:
            raise SessionError(f"{self.where}: {_first_line(exc)}") from None

    def init_schema(self) -> None:
        """Create or upgrade the tables; safe when several machines do it at once."""
        try:
            if schema_version(self._conn) != SCHEMA_VERSION:
                migrate(self._conn, self.where)
        except self._errors as exc:
            raise SessionError(
                f"{self.where}: cannot prepare the store: {_first_line(exc)}"
            ) from None

    def schema_version(self) -> int:
        return schema_version(self._conn)

    def ping(self) -> bool:
        try:
            self._query("SELECT 1")
        except SessionError:
            return False
        return True

    def close(self) -> None:
        self._conn.close()

    # -- reading -----------------------------------------------------------------------------
    def ids(self) -> list[str]:
        return [
            row[0] for row in self._query("SELECT id FROM mamba_sessions ORDER BY updated DESC")
        ]

    def count_sessions(self) -> int:
        return int(self._query("SELECT count(*) FROM mamba_sessions")[0][0])

    def load(self, session_id: str) -> Session:
        sessions, warnings = self._load_many([session_id])
        if warnings:
            raise SessionError(warnings[0])
        return sessions[0]

    def _load_many(self, ids: list[str]) -> tuple[list[Session], list[str]]:
        """The sessions named, in that order, and a warning per damaged one; a missing one
        raises SessionError when it is the only one asked for."""
        try:
            with self._conn.transaction():
                headers = {
                    row[0]: row
                    for row in self._conn.execute(
                        f"SELECT {_HEADER} FROM mamba_sessions WHERE id = ANY(%s)", (ids,)
                    )
                }
                states: dict[str, list[Any]] = {i: [] for i in headers}
                for session_id, record in self._conn.execute(
                    "SELECT session_id, record FROM mamba_states WHERE session_id = ANY(%s) "
                    "ORDER BY seq",
                    (ids,),
                ):
                    states[session_id].append(record)
                messages: dict[str, list[Any]] = {i: [] for i in headers}
                for session_id, record in self._conn.execute(
                    "SELECT l.session_id, m.record FROM mamba_session_messages l "
                    "JOIN mamba_messages m ON m.id = l.message_id "
                    "WHERE l.session_id = ANY(%s) ORDER BY l.seq",
                    (ids,),
                ):
                    messages[session_id].append(record)
        except self._errors as exc:
            raise SessionError(f"{self.where}: {_first_line(exc)}") from None
        if len(ids) == 1 and ids[0] not in headers:
            raise SessionError(f"no session {ids[0]}")
        sessions, warnings = [], []
        for session_id in ids:
            if session_id not in headers:
                continue  # deleted since it was listed
            try:
                sessions.append(
                    self._session(headers[session_id], states[session_id], messages[session_id])
                )
            except SessionError as exc:
                warnings.append(str(exc))
        return sessions, warnings

    def _session(self, header: tuple[Any, ...], states: list[Any], messages: list[Any]) -> Session:
        """A session from its rows, every field checked as a file's would be."""
        document = dict(zip(_HEADER.split(", "), header, strict=True))
        document.update(format=FORMAT, version=VERSION, messages=messages, states=states)
        try:
            records = check_document(document, document["id"])
        except ValueError as exc:
            raise SessionError(
                f"{self.where}: session {document['id']} is damaged ({exc})"
            ) from None
        session = Session.from_document(document, records)
        self._known[session.id] = (set(session.states), set(session.messages))
        return session

    def list_sessions(
        self, limit: int | None = None, offset: int = 0
    ) -> tuple[list[Session], list[str]]:
        rows = self._query(
            "SELECT id FROM mamba_sessions ORDER BY updated DESC LIMIT %s OFFSET %s",
            (limit, offset),
        )
        return self._load_many([row[0] for row in rows])

    def find_by_title(self, title: str) -> list[Session]:
        rows = self._query(
            "SELECT id FROM mamba_sessions WHERE title = %s ORDER BY updated DESC", (title,)
        )
        return self._load_many([row[0] for row in rows])[0]

    def match_id(self, ref: str) -> str | None:
        ref = ref.strip()
        if not ref:
            raise SessionError("empty session reference")
        rows = self._query(
            "SELECT id FROM mamba_sessions WHERE starts_with(id, %s) ORDER BY id LIMIT 6", (ref,)
        )
        ids = [row[0] for row in rows]
        if ref in ids:
            return ref
        if len(ids) > 1:
            raise SessionError(
                f"session reference '{ref}' is ambiguous: matches {', '.join(ids[:5])}"
            )
        return ids[0] if ids else None

    def _states_matching(self, prefix: str) -> list[SessionRef]:
        rows = self._query(
            "SELECT session_id, id FROM mamba_states WHERE starts_with(id, %s) LIMIT 2", (prefix,)
        )
        return [SessionRef(self.load(session_id), state_id) for session_id, state_id in rows]

    def reports(self, *, rebuild: bool = False) -> Reports:
        """The store's own tables: always up to date, nothing to rebuild."""
        return Reports(self.index)

    # -- writing -----------------------------------------------------------------------------
    def save(self, session: Session) -> None:
        """Insert the states and messages the store lacks, and move the session's head
        unless a later save moved it meanwhile."""
        known_states, known_messages = self._known.get(session.id, (set(), set()))
        states = [s for s in session.states.values() if s.id not in known_states]
        messages = [m for m in session.messages.values() if m.id not in known_messages]
        try:
            with self._conn.transaction():
                self._save_header(session)
                self._save_messages(session.id, messages)
                self._conn.execute(
                    "INSERT INTO mamba_states (id, session_id, record) "
                    "SELECT id, %s, record::jsonb FROM unnest(%s::text[], %s::text[]) "
                    "AS s(id, record) ON CONFLICT (id) DO NOTHING",
                    (
                        session.id,
                        [s.id for s in states],
                        [json.dumps(s.to_record(), ensure_ascii=False) for s in states],
                    ),
                )
                self._save_requests(session, [s.id for s in states])
        except self._errors as exc:
            raise SessionError(
                f"cannot save session {session.id} in {self.where}: {_first_line(exc)}"
            ) from None
        self._known[session.id] = (set(session.states), set(session.messages))

    def _save_header(self, session: Session) -> None:
        self._conn.execute(
            f"INSERT INTO mamba_sessions ({_HEADER}, updated) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET head = EXCLUDED.head, "
            "updated_at = EXCLUDED.updated_at, updated = EXCLUDED.updated, "
            "model = EXCLUDED.model, title = CASE WHEN mamba_sessions.title = '' "
            "THEN EXCLUDED.title ELSE mamba_sessions.title END "
            "WHERE mamba_sessions.updated <= EXCLUDED.updated",
            (
                session.id,
                session.title,
                session.created_at,
                session.updated_at,
                session.model,
                session.cwd,
                json.dumps(session.forked_from) if session.forked_from else None,
                session.head,
                datetime.fromtimestamp(epoch(session.updated_at)).astimezone(),
            ),
        )

    def _save_messages(self, session_id: str, messages: list[Any]) -> None:
        """Store each message once; link them all to the session. A message id already
        stored with other content is refused."""
        records = {m.id: m.to_record() for m in messages}
        inserted = {
            row[0]
            for row in self._conn.execute(
                "INSERT INTO mamba_messages (id, session_id, record, ts, body) "
                "SELECT id, %s, record::jsonb, ts, body "
                "FROM unnest(%s::text[], %s::text[], %s::float8[], %s::text[]) "
                "AS m(id, record, ts, body) ON CONFLICT (id) DO NOTHING RETURNING id",
                (
                    session_id,
                    list(records),
                    [json.dumps(r, ensure_ascii=False) for r in records.values()],
                    [epoch(m.created_at) for m in messages],
                    [searched_text(m.role, m.content) for m in messages],
                ),
            )
        }
        present = [i for i in records if i not in inserted]
        if present:
            for message_id, stored in self._conn.execute(
                "SELECT id, record FROM mamba_messages WHERE id = ANY(%s)", (present,)
            ):
                if stored != json.loads(json.dumps(records[message_id])):
                    raise SessionError(
                        f"session {session_id}: message {message_id} is already in "
                        f"{self.where} with other content"
                    )
        self._conn.execute(
            "INSERT INTO mamba_session_messages (session_id, message_id) "
            "SELECT %s, id FROM unnest(%s::text[]) AS m(id) ON CONFLICT DO NOTHING",
            (session_id, list(records)),
        )

    def _save_requests(self, session: Session, state_ids: list[str]) -> None:
        rows = session_rows(session, state_ids)
        if rows:
            columns = list(zip(*rows, strict=True))
            self._conn.execute(
                "INSERT INTO mamba_requests (message_id, session_id, ts, model, input, output, "
                'cache_read, cache_write, cost, source, "user") '
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::float8[], %s::text[], "
                "%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::float8[], "
                "%s::text[], %s::text[]) ON CONFLICT (message_id) DO NOTHING",
                [list(column) for column in columns],
            )

    def delete(self, session_id: str) -> None:
        """Remove a session, and the messages no other session holds."""
        try:
            with self._conn.transaction():
                linked = [
                    row[0]
                    for row in self._conn.execute(
                        "SELECT message_id FROM mamba_session_messages WHERE session_id = %s",
                        (session_id,),
                    )
                ]
                deleted = self._conn.execute(
                    "DELETE FROM mamba_sessions WHERE id = %s", (session_id,)
                ).rowcount
                self._conn.execute(
                    "DELETE FROM mamba_messages m WHERE m.id = ANY(%s) AND NOT EXISTS "
                    "(SELECT 1 FROM mamba_session_messages l WHERE l.message_id = m.id)",
                    (linked,),
                )
        except self._errors as exc:
            raise SessionError(
                f"cannot delete session {session_id} in {self.where}: {_first_line(exc)}"
            ) from None
        if not deleted:
            raise SessionError(f"no session {session_id}")
        self._known.pop(session_id, None)

    def gc(self) -> int:
        """Remove the messages no session holds."""
        try:
            with self._conn.transaction():
                return int(
                    self._conn.execute(
                        "DELETE FROM mamba_messages m WHERE NOT EXISTS "
                        "(SELECT 1 FROM mamba_session_messages l WHERE l.message_id = m.id)"
                    ).rowcount
                )
        except self._errors as exc:
            raise SessionError(f"{self.where}: {_first_line(exc)}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
