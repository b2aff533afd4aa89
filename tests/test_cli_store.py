"""The `mamba` command on either store: runs, chats, sessions, usage and search work the
same on the session files and on PostgreSQL; `mamba store` moves history between them."""

from __future__ import annotations

from conftest import run_mamba, session_files
from postgres_server import PASSWORD


def test_run_chat_sessions_usage_and_search_on_each_store(
    mamba, server, home, store_env, store_kind
):
    env = {**store_env, "MAMBA_STORE__USER": "alice"}
    server.add({"text": "deployed"}, {"text": "checked"}, {"text": "from the chat"})
    first = mamba("run", "deploy the billing service", "-o", "json", env=env)
    assert first.code == 0, first.stderr
    session_id = first.json()["session_id"]
    again = mamba("run", "check the deploy", "-c", "-o", "json", env=env)
    assert again.json()["session_id"] == session_id
    chat = run_mamba(
        "chat", "-c", "--model", "openai/gpt-4o", "--base-url", server.base_url,
        home=home, env=env, stdin="one more question\n",
    )  # fmt: skip
    assert chat.code == 0, chat.stderr

    listed = run_mamba("sessions", "list", "--json", home=home, env=env).json()
    assert [(s["id"], s["messages"]) for s in listed] == [(session_id, 6)]
    shown = run_mamba("sessions", "show", session_id[:8], home=home, env=env)
    assert "from the chat" in shown.stdout
    report = run_mamba("usage", "--by", "user", "--json", home=home, env=env).json()
    assert [(r["key"], r["requests"]) for r in report["rows"]] == [("alice", 3)]
    found = run_mamba("sessions", "search", "billing", "--json", home=home, env=env).json()
    assert [hit["id"] for hit in found] == [session_id]

    # On PostgreSQL nothing is written to the session files, and the password never shows.
    assert bool(session_files(home)) == (store_kind == "files")
    for done in (first, again, chat):
        assert PASSWORD not in done.stdout + done.stderr

    deleted = run_mamba("sessions", "delete", session_id, "--yes", home=home, env=env)
    assert deleted.code == 0, deleted.stderr
    assert run_mamba("sessions", "list", "--json", home=home, env=env).json() == []


def test_store_copy_to_postgres_and_back_is_idempotent(mamba, server, home, postgres_url):
    secret = {"PGPASSWORD": PASSWORD}  # the password comes from the environment
    team = {"MAMBA_STORE__URL": postgres_url, **secret}
    server.add({"text": "a"}, {"text": "b"}, {"text": "c"})
    mamba("run", "first question")
    mamba("run", "second question")
    copied = run_mamba("store", "copy", "--to", postgres_url, home=home, env=secret)
    assert copied.code == 0, copied.stderr
    assert "copied 2 sessions" in copied.stderr and "(2 new there)" in copied.stderr
    again = run_mamba("store", "copy", "--to", postgres_url, home=home, env=secret)
    assert "(0 new there)" in again.stderr
    assert len(run_mamba("sessions", "list", "--json", home=home, env=team).json()) == 2

    # Continue one on the team store, then bring the history back to the files.
    continued = mamba("run", "third question", "-c", "-o", "json", env=team)
    assert continued.code == 0, continued.stderr
    back = run_mamba(
        "store", "copy", "--from", postgres_url, "--to", "files", home=home, env=secret
    )
    assert back.code == 0 and "(0 new there)" in back.stderr, back.stderr
    listed = run_mamba("sessions", "list", "--json", home=home).json()
    assert sorted(s["messages"] for s in listed) == [2, 4]
    assert run_mamba("store", "copy", "--to", "files", home=home).code == 2


def test_store_init_and_status(home, postgres_url):
    secret = {"PGPASSWORD": PASSWORD}
    init = run_mamba("store", "init", "--url", postgres_url, home=home, env=secret)
    assert init.code == 0 and "ready, schema version 1, 0 sessions" in init.stderr
    status = run_mamba(
        "store", "status", "--json", home=home, env={"MAMBA_STORE__URL": postgres_url, **secret}
    )
    assert status.json() == {
        "store": postgres_url,
        "kind": "postgresql",
        "schema_version": 1,
        "sessions": 0,
    }
    files = run_mamba("store", "status", "--json", home=home).json()
    assert files["kind"] == "files" and files["sessions"] == 0


def test_an_unreachable_store_is_one_line_without_the_password(home):
    url = "postgresql://alice:hunter2-secret@127.0.0.1:1/team"
    done = run_mamba("sessions", "list", home=home, env={"MAMBA_STORE__URL": url})
    assert done.code == 1
    assert done.stderr.count("\n") == 1 and "cannot connect" in done.stderr
    assert "hunter2" not in done.stderr and "alice:****@127.0.0.1:1/team" in done.stderr
    shown = run_mamba("config", "show", home=home, env={"MAMBA_STORE__URL": url})
    assert "hunter2" not in shown.stdout + shown.stderr


def test_a_project_folder_cannot_send_sessions_elsewhere(mamba, server, home, postgres_url):
    (home / "work" / "config.toml").write_text(
        f'[store]\nurl = "{postgres_url}"\nuser = "mallory"\n'
    )
    server.add({"text": "ok"})
    done = mamba("run", "hello", "-o", "json")
    assert done.code == 0, done.stderr
    assert "ignored store.url, store.user: this folder is not trusted" in done.stderr
    assert len(session_files(home)) == 1
    report = run_mamba("usage", "--by", "user", "--json", home=home).json()
    assert "mallory" not in [row["key"] for row in report["rows"]]
