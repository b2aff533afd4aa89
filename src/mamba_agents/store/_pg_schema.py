"""The PostgreSQL store's tables, and the versioned migrations that create and upgrade them.

Migrations run in one transaction under an advisory lock, so two machines starting at once
take turns: the second finds the work done. Each table is named `mamba_*`, so the store can
share a database with other programs.
"""

from __future__ import annotations

from typing import Any

from mamba_agents.errors import SessionError

LOCK_KEY = 0x6D616D6261  # "mamba": the advisory lock migrations hold
MIGRATIONS: tuple[str, ...] = (
    # 1: sessions, their immutable states, messages stored once and shared by id, requests.
    """
    CREATE TABLE mamba_sessions (
        id text PRIMARY KEY,
        title text NOT NULL DEFAULT '',
        created_at text NOT NULL,
        updated_at text NOT NULL,
        updated timestamptz NOT NULL,
        model text,
        cwd text NOT NULL DEFAULT '',
        forked_from jsonb,
        head text);
    CREATE INDEX mamba_sessions_updated ON mamba_sessions (updated DESC);
    CREATE INDEX mamba_sessions_title ON mamba_sessions (title);
    CREATE TABLE mamba_messages (
        id text PRIMARY KEY,
        session_id text NOT NULL,
        record jsonb NOT NULL,
        ts double precision NOT NULL,
        body text,
        words tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(body, ''))) STORED);
    CREATE INDEX mamba_messages_words ON mamba_messages USING gin (words);
    CREATE INDEX mamba_messages_session ON mamba_messages (session_id);
    CREATE TABLE mamba_session_messages (
        session_id text NOT NULL REFERENCES mamba_sessions (id) ON DELETE CASCADE,
        message_id text NOT NULL REFERENCES mamba_messages (id),
        seq bigserial,
        PRIMARY KEY (session_id, message_id));
    CREATE INDEX mamba_session_messages_message ON mamba_session_messages (message_id);
    CREATE TABLE mamba_states (
        id text PRIMARY KEY,
        session_id text NOT NULL REFERENCES mamba_sessions (id) ON DELETE CASCADE,
        seq bigserial,
        record jsonb NOT NULL);
    CREATE INDEX mamba_states_session ON mamba_states (session_id, seq);
    CREATE TABLE mamba_requests (
        message_id text PRIMARY KEY,
        session_id text NOT NULL REFERENCES mamba_sessions (id) ON DELETE CASCADE,
        ts double precision NOT NULL,
        model text NOT NULL,
        input bigint NOT NULL,
        output bigint NOT NULL,
        cache_read bigint NOT NULL,
        cache_write bigint NOT NULL,
        cost double precision NOT NULL,
        source text NOT NULL,
        "user" text NOT NULL);
    CREATE INDEX mamba_requests_ts ON mamba_requests (ts);
    CREATE INDEX mamba_requests_session ON mamba_requests (session_id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: Any) -> int:
    """The version the database is at (0: no mamba tables yet)."""
    with conn.transaction():
        if conn.execute("SELECT to_regclass('mamba_schema')").fetchone()[0] is None:
            return 0
        return int(conn.execute("SELECT coalesce(max(version), 0) FROM mamba_schema").fetchone()[0])


def migrate(conn: Any, where: str) -> int:
    """Bring the database to `SCHEMA_VERSION`; how many migrations ran. A database made by
    a newer mamba is refused, never downgraded."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS mamba_schema ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = conn.execute("SELECT coalesce(max(version), 0) FROM mamba_schema").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise SessionError(
                f"{where}: the store's schema is version {current}, newer than this mamba "
                f"knows ({SCHEMA_VERSION}); upgrade mamba"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            conn.execute(MIGRATIONS[version - 1])
            conn.execute("INSERT INTO mamba_schema (version) VALUES (%s)", (version,))
    return SCHEMA_VERSION - current
