"""edit_file against real files: exact replacement, the diff it reports, the sandbox, the
permission rules, and a run of the installed `mamba` that edits a file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from pathlib import Path

import pytest
from conftest import mamba_in_process

from mamba_agents.tools import (
    BUILTIN,
    FilesystemSecurity,
    PermissionPolicy,
    SandboxError,
    builtin_tools,
    copy_file,
    describe_rule,
    edit_file,
    move_file,
    suggest_rule,
)

APP = "def main():\n    return 1\n\n\nif __name__ == '__main__':\n    main()\n"


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """A sandbox holding src/app.py, beside a folder outside it."""
    base = tmp_path / "box"
    (base / "src").mkdir(parents=True)
    (base / "src" / "app.py").write_text(APP)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("key = 1\n")
    return base


def edit(base: Path, *args, **kwargs) -> str:
    return edit_file(*args, security=FilesystemSecurity(base_directory=base), **kwargs)


# -- replacing ---------------------------------------------------------------------------------
def test_a_unique_string_is_replaced_and_the_diff_shows_it(box):
    result = edit(box, "src/app.py", "    return 1\n", "    print('hi')\n    return 2\n")
    assert (box / "src" / "app.py").read_text() == APP.replace(
        "    return 1\n", "    print('hi')\n    return 2\n"
    )
    assert result == (
        "edited src/app.py: 1 replacement, +2 -1 lines\n"
        "--- a/src/app.py\n"
        "+++ b/src/app.py\n"
        "@@ -1,5 +1,6 @@\n"
        " def main():\n"
        "-    return 1\n"
        "+    print('hi')\n"
        "+    return 2\n"
        " \n"
        " \n"
        " if __name__ == '__main__':"
    )


def test_the_rest_of_the_file_is_kept_byte_for_byte(box):
    original = "\ufeffname = 'café'\r\nvalue = 1\r\n\x0cpage two\u2028same line\r\nend"
    (box / "mixed.txt").write_bytes(original.encode("utf-8"))
    result = edit(box, "mixed.txt", "value = 1", "value = 2")
    assert (box / "mixed.txt").read_bytes() == original.replace("value = 1", "value = 2").encode()
    # Only `\n` breaks lines in the diff: the form feed and U+2028 stay inside their line.
    assert result.splitlines()[0] == "edited mixed.txt: 1 replacement, +1 -1 lines"
    assert "-value = 1\r\n+value = 2\r\n" in result
    assert result.endswith(" end\n\\ No newline at end of file")


def test_a_missing_string_is_refused_and_the_file_is_unchanged(box):
    before = (box / "src" / "app.py").stat().st_mtime_ns
    with pytest.raises(ValueError) as refused:
        edit(box, "src/app.py", "    return 3\n", "    return 4\n")
    assert str(refused.value) == (
        "old_string not found in src/app.py; read the file and copy the text exactly"
    )
    assert (box / "src" / "app.py").read_text() == APP
    assert (box / "src" / "app.py").stat().st_mtime_ns == before


def test_several_occurrences_need_replace_all(box):
    (box / "log.txt").write_text("x = 1\ny = 1\nz = 1\n")
    with pytest.raises(ValueError) as refused:
        edit(box, "log.txt", "= 1", "= 2")
    assert str(refused.value) == (
        "old_string occurs 3 times in log.txt; add surrounding lines to make it unique, "
        "or set replace_all"
    )
    assert (box / "log.txt").read_text() == "x = 1\ny = 1\nz = 1\n"
    result = edit(box, "log.txt", "= 1", "= 2", replace_all=True)
    assert (box / "log.txt").read_text() == "x = 2\ny = 2\nz = 2\n"
    assert result.splitlines()[0] == "edited log.txt: 3 replacements, +3 -3 lines"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("", "x", "old_string is empty"),
        ("main", "main", "old_string and new_string are the same"),
    ],
)
def test_edits_that_mean_nothing_are_refused(box, old, new, message):
    with pytest.raises(ValueError, match=message):
        edit(box, "src/app.py", old, new)
    assert (box / "src" / "app.py").read_text() == APP


def test_a_missing_file_or_a_folder_is_refused_and_nothing_is_created(box):
    with pytest.raises(FileNotFoundError, match=r"no such file: src/new\.py .*use write_file"):
        edit(box, "src/new.py", "a", "b")
    assert not (box / "src" / "new.py").exists()
    with pytest.raises(IsADirectoryError, match="src is a directory"):
        edit(box, "src", "a", "b")


def test_a_file_that_is_not_utf8_is_refused_not_corrupted(box):
    data = b"caf\xe9 = 1\n"  # Latin-1
    (box / "latin.txt").write_bytes(data)
    with pytest.raises(ValueError, match=r"latin\.txt is not valid UTF-8"):
        edit(box, "latin.txt", "= 1", "= 2")
    assert (box / "latin.txt").read_bytes() == data


def test_the_size_limit_applies_to_the_file_read_and_to_the_file_written(box):
    (box / "big.txt").write_text("x" * 200)
    small = FilesystemSecurity(base_directory=box, max_file_size=100)
    with pytest.raises(SandboxError, match="over the 100-byte limit"):
        edit_file("big.txt", "x", "y", replace_all=True, security=small)
    (box / "grow.txt").write_text("a" + "x" * 89)
    with pytest.raises(SandboxError, match="over the 100-byte limit"):
        edit_file("grow.txt", "a", "y" * 20, security=small)
    assert (box / "grow.txt").read_text() == "a" + "x" * 89


def test_the_diff_is_cut_at_the_output_limit_and_the_summary_line_kept(box):
    (box / "many.txt").write_text("old\n" * 2000)
    [tool] = builtin_tools(FilesystemSecurity(box), output_limit=400, names=["edit_file"])
    arguments = {"path": "many.txt", "old_string": "old", "new_string": "new", "replace_all": True}
    result = asyncio.run(tool.invoke(arguments))
    assert result.splitlines()[0] == "edited many.txt: 2000 replacements, +2000 -2000 lines"
    assert "bytes cut ...]" in result and len(result) < 600
    assert (box / "many.txt").read_text() == "new\n" * 2000


# -- the sandbox -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["../outside/secret.txt", "src/../../outside/secret.txt"])
def test_paths_outside_the_sandbox_are_refused(box, path):
    with pytest.raises(SandboxError, match="outside"):
        edit(box, path, "key = 1", "key = 2")
    with pytest.raises(SandboxError, match="outside"):
        edit(box, str(box.parent / "outside" / "secret.txt"), "key = 1", "key = 2")
    assert (box.parent / "outside" / "secret.txt").read_text() == "key = 1\n"


def test_symlinks_leading_outside_are_refused(box):
    (box / "link.txt").symlink_to(box.parent / "outside" / "secret.txt")
    (box / "linked").symlink_to(box.parent / "outside")
    with pytest.raises(SandboxError, match="symlink"):
        edit(box, "link.txt", "key = 1", "key = 2")
    with pytest.raises(SandboxError):
        edit(box, "linked/secret.txt", "key = 1", "key = 2")
    assert (box.parent / "outside" / "secret.txt").read_text() == "key = 1\n"


def test_a_symlink_inside_the_sandbox_edits_its_target_and_stays_a_link(box):
    (box / "alias.py").symlink_to(box / "src" / "app.py")
    result = edit(box, "alias.py", "return 1", "return 2")
    assert result.startswith("edited src/app.py: 1 replacement")
    assert (box / "alias.py").is_symlink()
    assert "return 2" in (box / "src" / "app.py").read_text()


def test_a_racing_symlink_swap_never_edits_outside(box):
    (box / "inside.txt").write_text("key = 1\n")
    outside = box.parent / "outside" / "secret.txt"
    security = FilesystemSecurity(base_directory=box)
    stop = threading.Event()

    def swapper() -> None:
        while not stop.is_set():
            for target in (box / "inside.txt", outside):
                tmp = box / "swap.tmp"
                tmp.unlink(missing_ok=True)
                tmp.symlink_to(target)
                os.replace(tmp, box / "swap")

    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            with contextlib.suppress(SandboxError, OSError, ValueError):
                edit_file("swap", "key = ", "key = 0", replace_all=True, security=security)
    finally:
        stop.set()
        thread.join()
    assert outside.read_text() == "key = 1\n"


def test_named_pipes_and_denied_extensions_are_refused(box):
    os.mkfifo(box / "pipe")
    with pytest.raises(SandboxError, match="named pipe"):
        edit(box, "pipe", "a", "b")
    (box / "prod.env").write_text("KEY=1\n")
    no_env = FilesystemSecurity(base_directory=box, denied_extensions=[".env"])
    with pytest.raises(SandboxError, match=r"extension '\.env' is denied"):
        edit_file("prod.env", "KEY=1", "KEY=2", security=no_env)
    assert (box / "prod.env").read_text() == "KEY=1\n"


def test_a_file_that_reading_rules_hide_is_not_edited_or_shown(box):
    (box / "secret").mkdir()
    (box / "secret" / "key.txt").write_text("user = me\npassword = hunter2\n")
    (box / "alias.txt").symlink_to(box / "secret" / "key.txt")
    policy = PermissionPolicy(allow_all=True, deny=["read_file(secret/**)"], base=box)
    security = FilesystemSecurity(base_directory=box, hidden=policy.hides)
    for path in ("secret/key.txt", "./secret/../secret/key.txt", "alias.txt"):
        with pytest.raises(SandboxError, match="deny or ask rule on reading it") as refused:
            edit_file(path, "user = me", "user = you", security=security)
        assert "hunter2" not in str(refused.value)
    assert (box / "secret" / "key.txt").read_text() == "user = me\npassword = hunter2\n"
    assert edit_file("src/app.py", "return 1", "return 2", security=security).startswith("edited")


# -- permission rules --------------------------------------------------------------------------
RISK = BUILTIN["edit_file"][1]


def decide(policy: PermissionPolicy, tool: str, path: str) -> str:
    return policy.decide(tool, {"path": path}, RISK).action


@pytest.mark.parametrize(
    ("rule", "path", "expected"),
    [
        ("src/**", "src/app.py", "allow"),
        ("src/**", "./src/pkg/util.py", "allow"),
        ("src/**", "srcx/a.py", "ask"),
        ("src/**", "src/../setup.py", "ask"),
        ("src/**", "src/out/x.py", "ask"),  # src/out leads out of src/
        ("*.md", "README.md", "allow"),
        ("*.md", "docs/x.md", "ask"),
        ("docs", "docs/x.md", "allow"),
    ],
)
def test_edit_file_rules_match_paths_exactly_as_write_file_rules_do(box, rule, path, expected):
    (box / "src" / "out").symlink_to(box)
    edit_rules = PermissionPolicy(allow=[f"edit_file({rule})"], base=box)
    write_rules = PermissionPolicy(allow=[f"write_file({rule})"], base=box)
    assert decide(edit_rules, "edit_file", path) == expected
    assert decide(write_rules, "write_file", path) == expected
    # A rule for one tool says nothing about the other.
    assert decide(write_rules, "edit_file", path) == "ask"


def test_edits_ask_by_default_and_deny_rules_see_every_spelling(box):
    assert RISK == "write"
    assert decide(PermissionPolicy(base=box), "edit_file", "src/app.py") == "ask"
    policy = PermissionPolicy(allow_all=True, deny=["edit_file(src/app.py)"], base=box)
    (box / "alias.py").symlink_to(box / "src" / "app.py")
    for path in ("src/app.py", "./src/app.py", "src/../src/app.py", "alias.py"):
        assert decide(policy, "edit_file", path) == "deny", path
    assert decide(policy, "edit_file", "src/other.py") == "allow"
    assert suggest_rule("edit_file", {"path": "./src/app.py"}) == "edit_file(src/app.py)"
    assert describe_rule("edit_file(src/**)") == "edit_file on paths matching 'src/**'"


def test_tools_list_and_permissions_check_know_edit_file(home):
    listed = mamba_in_process("tools", "list", "--json", home=home).json()
    row = next(r for r in listed if r["name"] == "edit_file")
    assert (row["risk"], row["decision"]) == ("write", "ask")

    def check(call: str) -> dict:
        rule = ("--allow", "edit_file(src/**)", "--json")
        return mamba_in_process("permissions", "check", call, *rule, home=home).json()

    allowed = check("edit_file(src/a.py)")
    assert (allowed["decision"], allowed["arguments"]) == ("allow", {"path": "src/a.py"})
    assert allowed["rules"][0]["matches"] == "edit_file on paths matching 'src/**'"
    elsewhere = check("edit_file(a.py)")
    assert elsewhere["decision"] == "ask" and elsewhere["risk"] == "write"


# -- through the installed command -------------------------------------------------------------
def edit_call(path: str, old: str, new: str) -> dict:
    arguments = {"path": path, "old_string": old, "new_string": new}
    return {"tool_calls": [{"id": "call_1", "name": "edit_file", "arguments": arguments}]}


def tool_result(server) -> str:
    return server.requests[-1]["messages"][-1]["content"]


def test_mamba_run_edits_a_file_that_an_allow_rule_covers(mamba, server, home):
    app = home / "work" / "src" / "app.py"
    app.parent.mkdir()
    app.write_text(APP)
    server.add(edit_call("src/app.py", "return 1", "return 2"), {"text": "done"})
    result = mamba("run", "fix it", "--allow", "edit_file(src/**)", "-o", "json")
    assert result.code == 0, result.stderr
    assert result.json()["permission_denials"] == []
    assert app.read_text() == APP.replace("return 1", "return 2")
    assert tool_result(server).startswith(
        "edited src/app.py: 1 replacement, +1 -1 lines\n--- a/src/app.py\n+++ b/src/app.py\n"
    )


def test_mamba_run_refuses_an_edit_no_rule_allows(mamba, server, home):
    (home / "work" / "app.py").write_text(APP)
    server.add(edit_call("app.py", "return 1", "return 2"), {"text": "could not"})
    result = mamba("run", "fix it", "--allow", "edit_file(src/**)", "-o", "json")
    assert result.code == 0, result.stderr
    [denial] = result.json()["permission_denials"]
    assert denial["tool"] == "edit_file" and denial["arguments"]["path"] == "app.py"
    assert "--allow 'edit_file(app.py)'" in tool_result(server)
    assert (home / "work" / "app.py").read_text() == APP


@pytest.mark.parametrize("move", [True, False])
def test_a_file_reading_rules_hide_cannot_be_copied_or_moved_into_view(box, move):
    (box / "secret.env").write_text("TOKEN=hunter2\n")
    policy = PermissionPolicy(allow_all=True, deny=["read_file(secret*)"], base=box)
    security = FilesystemSecurity(base_directory=box, hidden=policy.hides)
    tool = move_file if move else copy_file
    with pytest.raises(SandboxError, match="deny or ask rule on reading it"):
        tool("secret.env", "notes.txt", security=security)
    assert not (box / "notes.txt").exists() and (box / "secret.env").exists()
    (box / "plain.txt").write_text("fine\n")
    tool("plain.txt", "copy.txt", security=security)
    assert (box / "copy.txt").read_text() == "fine\n"
