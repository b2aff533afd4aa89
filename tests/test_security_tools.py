"""Regression tests for holes found by attacking the tools, the sandbox and the rules."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import live_processes, session_files, wait_until

from mamba_agents.errors import ToolExecutionError
from mamba_agents.tools import (
    FilesystemSecurity,
    PermissionPolicy,
    SandboxError,
    copy_file,
    delete_file,
    glob_search,
    grep_search,
    list_directory,
    move_file,
    read_file,
    run_bash,
    write_file,
)
from mamba_agents.tools.permissions import command_parts


def decide(policy: PermissionPolicy, tool: str, risk: str = "write", **arguments: str) -> str:
    return policy.decide(tool, arguments, risk).action


def finishes(function, *args, seconds: float = 10.0, **kwargs):  # type: ignore[no-untyped-def]
    """Call in a thread; the call must end within `seconds` (it returns its outcome)."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{function.__name__} still running after {seconds} s"
    return outcome


# -- 1. the shell parser agrees with bash ------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        "ls x#; head -1 /etc/passwd",
        "ls x#y && head -1 /etc/passwd",
        "ls $#; head -1 /etc/passwd",
        "ls a\\#b; head -1 /etc/passwd",
    ],
)
def test_a_hash_inside_a_word_is_not_a_comment(command):
    allowed = PermissionPolicy(allow=["run_bash(ls *)"])
    assert decide(allowed, "run_bash", "execute", command=command) == "ask"
    denied = PermissionPolicy(allow_all=True, deny=["run_bash(head *)"])
    assert decide(denied, "run_bash", "execute", command=command) == "deny"


def test_what_bash_treats_as_a_comment_is_one():
    # Bash ignores everything after a `#` that starts a word: nothing else runs.
    assert command_parts("ls # ; rm -rf /") == (["ls"], False)
    assert command_parts("ls;#; rm -rf /") == (["ls"], False)
    out = subprocess.run(["bash", "-c", "echo a;#; echo b"], capture_output=True, text=True)
    assert out.stdout == "a\n"


@pytest.mark.parametrize(
    "command",
    [
        "if true; then rm -rf x; fi",
        "r''m -rf x",
        "\\rm -rf x",
        "/bin/rm -rf x",
        "env rm -rf x",
        "FOO=1 rm -rf x",
        "{ rm -rf x; }",
        "ls &> out; rm -rf x",
        "echo $(rm -rf x)",
        "cat <<EOF\nhi\nEOF\nrm -rf x",
        "$cmd -rf x",
        # found by attacking the first version
        "{rm,victim}",
        "rm{,} victim",
        "while rm victim; do break; done",
        "until rm victim; do :; done",
        "coproc rm victim",
        "coproc X { rm victim; }",
        "function f { rm victim; }; f",
        "time -p rm victim",
        "time -- rm victim",
        "nice -n 5 rm victim",
        "env -u FOO rm victim",
        "exec -a x rm victim",
        "eval rm victim",
        'builtin eval "rm victim"',
        'trap "rm victim" EXIT',
        "hash -p /bin/rm del; del victim",
        "timeout 5 rm victim",
        "setsid rm victim",
        "stdbuf -o0 rm victim",
        "xargs rm",
        'sh -c "rm victim"',
        "bash -ec 'ls; rm victim'",
        "sudo -u root rm victim",
    ],
)
def test_deny_rules_see_through_keywords_quotes_wrappers_and_substitutions(command):
    policy = PermissionPolicy(allow_all=True, deny=["run_bash(rm *)"])
    assert decide(policy, "run_bash", "execute", command=command) == "deny"


def test_a_command_that_hides_commands_needs_a_whole_tool_rule():
    policy = PermissionPolicy(allow=["run_bash(echo *)"])
    for command in ("echo $(id)", "echo `id`", 'echo "$(id)"', "echo ${x:-$(id)}", "echo $'a'"):
        assert decide(policy, "run_bash", "execute", command=command) == "ask", command
    assert decide(policy, "run_bash", "execute", command="echo ${HOME} 'a;b' \"c\"") == "allow"
    whole = PermissionPolicy(allow=["run_bash"])
    assert decide(whole, "run_bash", "execute", command="echo $(id)") == "allow"


def test_wrappers_and_keywords_do_not_make_harmless_commands_suspect():
    policy = PermissionPolicy(allow_all=True, deny=["run_bash(rm *)"])
    for command in ("timeout 5 make test", "xargs grep -l x", "time -p ls", "env FOO=1 ls"):
        assert decide(policy, "run_bash", "execute", command=command) == "allow", command


def test_the_run_refuses_a_hash_trick(mamba, server, home):
    server.add(
        {"tool_calls": [{"name": "run_bash", "arguments": {"command": "ls x#; touch pwned"}}]},
        {"text": "done"},
    )
    result = mamba("run", "go", "-o", "json", "--allow", "run_bash(ls *)")
    assert result.code == 0, result.stderr
    assert not (home / "work" / "pwned").exists()
    assert [d["tool"] for d in result.json()["permission_denials"]] == ["run_bash"]


# -- 2. path rules compare resolved paths ------------------------------------------------------
def test_deny_rules_match_every_spelling_of_a_path(tmp_path):
    (tmp_path / "sub").mkdir()
    policy = PermissionPolicy(allow_all=True, deny=["write_file(important.txt)"], base=tmp_path)
    for path in ("important.txt", "sub/../important.txt", "./important.txt"):
        assert decide(policy, "write_file", path=path) == "deny", path
    assert decide(policy, "write_file", path=str(tmp_path / "important.txt")) == "deny"
    (tmp_path / "alias").symlink_to(tmp_path / "important.txt")
    assert decide(policy, "write_file", path="alias") == "deny"
    assert decide(policy, "write_file", path="other.txt") == "allow"


def test_allow_rules_do_not_reach_outside_their_folder(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "out").symlink_to(tmp_path)
    policy = PermissionPolicy(allow=["write_file(src/**)"], base=tmp_path)
    assert decide(policy, "write_file", path="src/a.py") == "allow"
    assert decide(policy, "write_file", path="src/../x") == "ask"
    assert decide(policy, "write_file", path="src/out/x") == "ask"
    absolute = PermissionPolicy(allow=[f"write_file({tmp_path}/src/**)"], base=tmp_path)
    assert decide(absolute, "write_file", path="src/a.py") == "allow"


def test_every_path_argument_must_pass(tmp_path):
    policy = PermissionPolicy(allow_all=True, deny=["write_file(secret/**)"], base=tmp_path)
    for tool in ("copy_file", "move_file"):
        policy = PermissionPolicy(allow_all=True, deny=[f"{tool}(secret/**)"], base=tmp_path)
        assert decide(policy, tool, source="a.txt", destination="secret/b") == "deny"
        assert decide(policy, tool, source="secret/b", destination="a.txt") == "deny"
    allow = PermissionPolicy(allow=["copy_file(pub/**)"], base=tmp_path)
    assert decide(allow, "copy_file", source="pub/a", destination="pub/b") == "allow"
    assert decide(allow, "copy_file", source="secret/a", destination="pub/b") == "ask"


def test_searches_leave_out_what_reading_rules_deny(tmp_path):
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key.txt").write_text("password = hunter2\n")
    (tmp_path / "public.txt").write_text("password = see the vault\n")
    (tmp_path / "link.txt").symlink_to(tmp_path / "secret" / "key.txt")
    policy = PermissionPolicy(deny=["read_file(secret/**)"], base=tmp_path)
    security = FilesystemSecurity(base_directory=tmp_path, hidden=policy.hides)
    grep = grep_search("password", security=security).to_text()
    assert "hunter2" not in grep
    assert "public.txt" in grep
    assert "secret" not in glob_search("**/*", security=security).to_text()
    assert "key.txt" not in list_directory("secret", security=security).to_text()
    assert "hunter2" not in grep_search("password", path="secret", security=security).to_text()
    assert decide(policy, "read_file", "read", path="link.txt") == "deny"


# -- 3. delete and move act on a symlink itself -------------------------------------------------
def test_delete_and_move_act_on_the_link_not_its_target(tmp_path):
    security = FilesystemSecurity(base_directory=tmp_path)
    target = tmp_path / "important.txt"
    target.write_text("keep me")
    (tmp_path / "link").symlink_to(target)
    delete_file("link", security=security)
    assert target.read_text() == "keep me"
    assert not (tmp_path / "link").is_symlink()
    (tmp_path / "link2").symlink_to(target)
    move_file("link2", "moved", security=security)
    assert (tmp_path / "moved").is_symlink()
    assert target.read_text() == "keep me"
    # A deny rule on the target's name also covers a link to it.
    policy = PermissionPolicy(allow_all=True, deny=["delete_file(important.txt)"], base=tmp_path)
    assert decide(policy, "delete_file", path="moved") == "deny"


def test_a_link_to_outside_is_deleted_not_refused_and_outside_is_untouched(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours")
    box = tmp_path / "box"
    box.mkdir()
    (box / "escape").symlink_to(outside)
    delete_file("escape", security=FilesystemSecurity(base_directory=box))
    assert outside.read_text() == "not yours"


# -- 4. a symlink swapped during a read cannot escape --------------------------------------------
def test_a_racing_symlink_swap_never_reads_outside(tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    (box / "inside.txt").write_text("inside")
    (tmp_path / "outside.txt").write_text("OUTSIDE SECRET")
    security = FilesystemSecurity(base_directory=box)
    link = box / "swap"
    stop = threading.Event()

    def swapper() -> None:
        while not stop.is_set():
            for target in (box / "inside.txt", tmp_path / "outside.txt"):
                tmp = box / "swap.tmp"
                tmp.unlink(missing_ok=True)
                tmp.symlink_to(target)
                os.replace(tmp, link)

    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    seen = []
    try:
        for _ in range(300):
            with contextlib.suppress(SandboxError, OSError):
                seen.append(read_file("swap", security=security))
            with contextlib.suppress(SandboxError, OSError):
                write_file("swap", "written", security=security)
    finally:
        stop.set()
        thread.join()
    assert "OUTSIDE SECRET" not in seen
    assert (tmp_path / "outside.txt").read_text() == "OUTSIDE SECRET"


# -- 5. extensions of dotfiles and multi-part extensions -----------------------------------------
def test_a_dotfile_name_is_its_extension_and_multi_part_extensions_match(tmp_path):
    for name in (".env", ".env.local", "backup.tar.gz", "notes.txt"):
        (tmp_path / name).write_text("x")
    security = FilesystemSecurity(base_directory=tmp_path, denied_extensions=[".env", ".tar.gz"])
    for name in (".env", ".ENV", ".env.local", "backup.tar.gz"):
        with pytest.raises(SandboxError):
            read_file(name, security=security)
    assert read_file("notes.txt", security=security) == "x"
    listed = list_directory(security=security).to_text()
    assert ".env" not in listed
    assert "backup" not in listed
    allowed = FilesystemSecurity(base_directory=tmp_path, allowed_extensions=["tar.gz"])
    assert read_file("backup.tar.gz", security=allowed) == "x"
    with pytest.raises(SandboxError):
        read_file("notes.txt", security=allowed)


# -- 6. secrets never reach a tool process or a tool result -------------------------------------
def test_tool_processes_cannot_read_the_key_and_results_are_masked(mamba, server, home):
    key = "sk-test-4f9c2b7e81d05a3c"
    (home / "work" / "notes.txt").write_text(f"my key is {key}\n")
    # Counts the processes that have this key in their environment (other tests' processes,
    # running at the same time, have keys of their own). Written with '' inside, so that the
    # command the model sends does not contain the key itself.
    command = (
        "for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ 2>/dev/null; done "
        f"| grep -c {key[:12]}''{key[12:]}; cat notes.txt"
    )
    server.add(
        {"tool_calls": [{"name": "run_bash", "arguments": {"command": command}}]},
        {"text": "done"},
    )
    result = mamba("run", "go", "--allow-all", "-o", "json", env={"OPENAI_API_KEY": key})
    assert result.code == 0, result.stderr
    tool_result = json.dumps(server.requests[-1]["messages"])
    assert key not in tool_result
    assert "my key is ****" in tool_result
    # No process shows the key in its environment: mamba blanked its own copy.
    assert "--- stdout ---\\n0\\n" in tool_result
    assert key not in session_files(home)[0].read_text()
    # The key still went where it belongs: the provider's Authorization header.
    assert server.headers[0]["authorization"] == f"Bearer {key}"


# -- 7 and 8. nothing outlives a bash call; exit codes are the command's ------------------------
def test_background_processes_die_with_the_call(tmp_path):
    security = FilesystemSecurity(base_directory=tmp_path)
    result = run_bash(
        "setsid sleep 9871 & (setsid sleep 9872 &); nohup sleep 9873 >/dev/null 2>&1 & echo ok",
        security=security,
    )
    assert result.exit_code == 0
    assert result.stdout == "ok\n"
    # Killed processes are gone once the kernel has run them to their end: a moment at most.
    for marker in ("sleep 9871", "sleep 9872", "sleep 9873"):
        assert wait_until(lambda marker=marker: live_processes(marker) == [], 5), marker


def test_a_timed_out_call_kills_escaped_children_too(tmp_path):
    security = FilesystemSecurity(base_directory=tmp_path)
    result = run_bash("setsid sleep 9874 & sleep 30", timeout=0.5, security=security)
    assert result.timed_out
    assert wait_until(lambda: live_processes("sleep 9874") == [], 5)


def test_exit_codes_are_never_the_cleanup_kill(tmp_path):
    security = FilesystemSecurity(base_directory=tmp_path)
    codes = {run_bash("head -1 /etc/hostname", security=security).exit_code for _ in range(40)}
    assert codes == {0}
    assert run_bash("exit 7", security=security).exit_code == 7
    assert run_bash("kill -9 $$", security=security).exit_code == 137


# -- 10. no hang on a catastrophic pattern or a named pipe --------------------------------------
@pytest.fixture
def short_search_budget(monkeypatch):
    """Searches stop after 0.3 s instead of 2 s: the same limit, found sooner."""
    monkeypatch.setattr("mamba_agents.tools.search.SEARCH_TIME_BUDGET", 0.3)


def test_a_catastrophic_pattern_is_stopped_with_a_clear_error(tmp_path, short_search_budget):
    (tmp_path / "a.txt").write_text("a" * 34 + "!\n")
    security = FilesystemSecurity(base_directory=tmp_path)
    assert grep_search("(a+)+$", security=security).matches == []
    outcome = finishes(grep_search, "(a|aa)+$", security=security)
    assert isinstance(outcome.get("error"), ToolExecutionError)
    assert "a.txt" in str(outcome["error"])
    assert "simplify" in str(outcome["error"])


def test_a_cancelled_grep_stops_between_files(tmp_path):
    for index in range(50):
        (tmp_path / f"{index}.txt").write_text("x\n")
    cancel = threading.Event()
    cancel.set()
    security = FilesystemSecurity(base_directory=tmp_path)
    with pytest.raises(ToolExecutionError, match="cancelled"):
        grep_search("x", security=security, cancel=cancel)


def test_named_pipes_are_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "plain.txt").write_text("needle\n")
    security = FilesystemSecurity(base_directory=tmp_path)
    for call in (
        lambda: read_file("pipe", security=security),
        lambda: write_file("pipe", "x", security=security),
        lambda: copy_file("pipe", "copy", security=security),
    ):
        outcome = finishes(call)
        assert "named pipe" in str(outcome.get("error")), outcome
    found = finishes(grep_search, "needle", security=security)["value"]
    assert [m.path for m in found.matches] == ["plain.txt"]


def test_a_grep_run_with_a_catastrophic_pattern_ends_within_the_timeout(mamba, server, home):
    (home / "work" / "a.txt").write_text("a" * 40 + "!\n")
    server.add(
        {"tool_calls": [{"name": "grep_search", "arguments": {"pattern": "(a|aa)+$"}}]},
        {"text": "done"},
    )
    started = time.monotonic()
    result = mamba("run", "go", "-o", "json", "--timeout", "20")
    assert result.code == 0, result.stderr
    assert time.monotonic() - started < 20
    tool_message = server.requests[-1]["messages"][-1]
    assert "backtracks" in tool_message["content"]


def test_reading_special_files_outside_a_disabled_sandbox_is_refused():
    security = FilesystemSecurity(base_directory="/", sandbox_mode=False)
    outcome = finishes(read_file, "/dev/zero", security=security)
    assert "character device" in str(outcome.get("error"))


def test_written_files_land_inside_and_parents_are_created(tmp_path):
    security = FilesystemSecurity(base_directory=tmp_path)
    write_file("a/b/c.txt", "hello", security=security)
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "hello"
    (tmp_path / "out").symlink_to(Path("/tmp"))
    with pytest.raises(SandboxError):
        write_file("out/x.txt", "no", security=security)


# -- found by attacking the fixes ----------------------------------------------------------------
@pytest.mark.parametrize("path", [" ~/../secret/data", "\t~/../secret/data"])
def test_rules_read_a_path_exactly_as_the_tool_does(tmp_path, path):
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "data").write_text("TOPSECRET")
    security = FilesystemSecurity(base_directory=tmp_path)
    assert read_file(path, security=security) == "TOPSECRET"  # the tool reaches it...
    policy = PermissionPolicy(deny=["read_file(secret/**)"], base=tmp_path)
    assert decide(policy, "read_file", "read", path=path) == "deny"  # ...so the rule must too


def test_a_symlink_followed_by_dotdot_is_resolved_as_the_file_system_does(tmp_path):
    (tmp_path / "secret" / "sub").mkdir(parents=True)
    (tmp_path / "src").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "l").symlink_to(tmp_path / "secret" / "sub")
    (tmp_path / "src" / "up").symlink_to(tmp_path / "docs")
    deny = PermissionPolicy(deny=["read_file(secret/**)"], base=tmp_path)
    assert decide(deny, "read_file", "read", path="l/../data") == "deny"
    allow = PermissionPolicy(allow=["write_file(src/**)"], base=tmp_path)
    assert decide(allow, "write_file", path="src/up/../important.txt") == "ask"
    assert decide(allow, "write_file", path="src/a/../b.txt") == "allow"


def test_copy_and_move_into_a_folder_are_checked_on_the_file_they_write(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "important.txt").write_text("x")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "important.txt").write_text("x")
    policy = PermissionPolicy(allow_all=True, deny=["*_file(important.txt)"], base=tmp_path)
    for tool in ("copy_file", "move_file"):
        assert decide(policy, tool, source="other/important.txt", destination=".") == "deny"
    held = PermissionPolicy(allow_all=True, deny=["move_file(conf/important.txt)"], base=tmp_path)
    assert decide(held, "move_file", source="conf", destination="trash") == "deny"
    assert decide(held, "move_file", source="other", destination="trash") == "allow"


@pytest.mark.parametrize("encoding", ["cp037", "utf-16-le", "rot13", "no-such-codec"])
def test_read_file_refuses_encodings_that_would_disguise_a_key(tmp_path, encoding):
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-test-0123456789abcdef\n")
    security = FilesystemSecurity(base_directory=tmp_path)
    with pytest.raises(ValueError, match="encoding"):
        read_file(".env", encoding=encoding, security=security)
    assert "sk-test" in read_file(".env", encoding="latin-1", security=security)


@pytest.mark.parametrize("kind", ["fifo", "device", "tty"])
def test_a_hostile_gitignore_cannot_hang_or_flood_a_listing(tmp_path, kind):
    (tmp_path / "a.txt").write_text("x")
    gitignore = tmp_path / ".gitignore"
    if kind == "fifo":
        os.mkfifo(gitignore)
    else:
        gitignore.symlink_to("/dev/zero" if kind == "device" else "/dev/tty")
    security = FilesystemSecurity(base_directory=tmp_path)
    listed = finishes(list_directory, security=security)["value"]
    assert "a.txt" in listed.to_text()


def test_the_time_budget_covers_a_whole_file_with_context_lines(tmp_path, short_search_budget):
    (tmp_path / "a.txt").write_text("X\n" + ("a" * 31 + "\n") * 100)
    security = FilesystemSecurity(base_directory=tmp_path)
    started = time.monotonic()
    outcome = finishes(grep_search, "X|(a|aa)+b", context_lines=1, security=security)
    assert isinstance(outcome.get("error"), ToolExecutionError)
    assert time.monotonic() - started < 8


def test_grep_does_not_show_what_read_file_would_refuse_as_too_large(tmp_path):
    (tmp_path / "big.txt").write_text("needle\n" * 100)
    (tmp_path / "small.txt").write_text("needle\n")
    security = FilesystemSecurity(base_directory=tmp_path, max_file_size=100)
    assert [m.path for m in grep_search("needle", security=security).matches] == ["small.txt"]


def test_deeply_nested_tool_arguments_are_a_tool_error_not_a_failed_run(mamba, server, home):
    nested = "[" * 100_000 + "]" * 100_000
    server.add(
        {"tool_calls": [{"name": "read_file", "arguments": '{"path": ' + nested + "}"}]},
        {"text": "done"},
    )
    result = mamba("run", "go", "-o", "json")
    assert result.code == 0, result.stderr
    assert "nested too deeply" in server.requests[-1]["messages"][-1]["content"]


COSTLY_GLOB = "**?" * 12 + "**!"


def test_a_costly_glob_pattern_is_answered_not_a_hang(tmp_path):
    (tmp_path / "src" / "components").mkdir(parents=True)
    (tmp_path / "src" / "components" / "SidebarNavigationItem.tsx").write_text("x")
    security = FilesystemSecurity(base_directory=tmp_path)
    outcome = finishes(glob_search, COSTLY_GLOB, security=security)
    assert outcome == {"value": glob_search("nothing-here", security=security)}


def test_a_costly_gitignore_line_or_rule_cannot_hang_listings_or_decisions(tmp_path):
    (tmp_path / ".gitignore").write_text("**a" * 12 + "!\n")
    (tmp_path / ("a" * 60)).write_text("x")
    security = FilesystemSecurity(base_directory=tmp_path)
    listed = finishes(list_directory, security=security)["value"]
    assert "a" * 60 in listed.to_text()
    policy = PermissionPolicy(deny=[f"read_file({COSTLY_GLOB})"], base=tmp_path)
    assert finishes(policy.decide, "read_file", {"path": "x" * 40}, "read")["value"].action == (
        "allow"  # the pattern does not match, and deciding that takes no time
    )


def test_the_model_cannot_raise_the_configured_bash_timeout(tmp_path):
    from mamba_agents.tools import builtin_tools

    [bash] = [
        t
        for t in builtin_tools(FilesystemSecurity(tmp_path), bash_timeout=0.2)
        if t.name == "run_bash"
    ]
    assert bash.parameters["properties"]["timeout"]["maximum"] == 0.2
    started = time.monotonic()
    text = asyncio.run(bash.invoke({"command": "sleep 5", "timeout": 100}))
    assert "timed out" in text and time.monotonic() - started < 3
