"""File and search tools against real files: the sandbox, ignore rules, caps, sorting."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from mamba_agents.tools import (
    FilesystemSecurity,
    SandboxError,
    append_file,
    builtin_tools,
    copy_file,
    delete_file,
    file_info,
    glob_search,
    grep_search,
    list_directory,
    move_file,
    read_file,
    write_file,
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    base = tmp_path / "project"
    (base / "src" / "pkg").mkdir(parents=True)
    (base / "src" / "main.py").write_text("def main():\n    return 1\n")
    (base / "src" / "pkg" / "util.py").write_text("import os\n\ndef helper():\n    pass\n")
    (base / "README.md").write_text("# Project\nhello world\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET def leaked():\n")
    return base


def sec(base: Path, **kwargs) -> FilesystemSecurity:
    return FilesystemSecurity(base_directory=base, **kwargs)


def test_relative_paths_resolve_against_the_sandbox_not_the_process(tree, monkeypatch):
    monkeypatch.chdir(tree.parent)
    assert read_file("README.md", security=sec(tree)).startswith("# Project")
    write_file("new/file.txt", "x", security=sec(tree))
    assert (tree / "new" / "file.txt").read_text() == "x"
    assert not (tree.parent / "new").exists()


@pytest.mark.parametrize("path", ["../outside/secret.txt", "src/../../outside/secret.txt"])
def test_traversal_is_refused(tree, path):
    with pytest.raises(SandboxError, match="outside"):
        read_file(path, security=sec(tree))


def test_absolute_path_outside_is_refused_inside_is_fine(tree):
    with pytest.raises(SandboxError, match="outside"):
        read_file(str(tree.parent / "outside" / "secret.txt"), security=sec(tree))
    with pytest.raises(SandboxError):
        write_file("/tmp/escaped-by-mamba.txt", "x", security=sec(tree))
    assert read_file(str(tree / "README.md"), security=sec(tree)).startswith("#")


def test_symlinks_leading_outside_are_refused_everywhere(tree):
    (tree / "link.txt").symlink_to(tree.parent / "outside" / "secret.txt")
    (tree / "linked_dir").symlink_to(tree.parent / "outside")
    security = sec(tree)
    with pytest.raises(SandboxError, match="symlink"):
        read_file("link.txt", security=security)
    with pytest.raises(SandboxError):
        read_file("linked_dir/secret.txt", security=security)
    with pytest.raises(SandboxError):
        write_file("linked_dir/planted.txt", "x", security=security)
    assert not (tree.parent / "outside" / "planted.txt").exists()
    listing = list_directory(".", recursive=True, security=security)
    assert all("link" not in e.path for e in listing.entries)
    assert "secret" not in glob_search("**/*", security=security).to_text()
    grep = grep_search("SECRET|leaked", security=security)
    assert grep.matches == []
    with pytest.raises(SandboxError):
        grep_search("x", path="linked_dir", security=security)


def test_symlink_inside_the_sandbox_is_fine(tree):
    (tree / "alias.md").symlink_to(tree / "README.md")
    assert read_file("alias.md", security=sec(tree)).startswith("# Project")


def test_extension_rules_ignore_case_and_never_block_directories(tree):
    (tree / "NOTES.TXT").write_text("upper")
    only_text = sec(tree, allowed_extensions=["txt", ".MD"])
    assert read_file("NOTES.TXT", security=only_text) == "upper"
    assert read_file("README.md", security=only_text).startswith("#")
    with pytest.raises(SandboxError, match=r"extension '\.py' is not allowed"):
        read_file("src/main.py", security=only_text)
    listing = list_directory("src", recursive=True, security=only_text)
    assert [e.path for e in listing.entries] == ["src/pkg"]
    no_env = sec(tree, denied_extensions=[".ENV"])
    (tree / "prod.env").write_text("KEY=1")
    with pytest.raises(SandboxError, match=r"extension '\.env' is denied"):
        read_file("prod.env", security=no_env)
    assert "prod.env" not in glob_search("*", security=no_env).matches


def test_max_file_size(tree):
    (tree / "big.txt").write_text("x" * 2000)
    small = sec(tree, max_file_size=1000)
    with pytest.raises(SandboxError, match="over the 1000-byte limit"):
        read_file("big.txt", security=small)
    with pytest.raises(SandboxError):
        write_file("out.txt", "y" * 1001, security=small)


def test_ignored_paths_are_skipped_and_output_sorted(tree):
    (tree / ".git" / "objects").mkdir(parents=True)
    (tree / ".git" / "config").write_text("def git():")
    (tree / "node_modules" / "lib").mkdir(parents=True)
    (tree / "node_modules" / "lib" / "index.py").write_text("def nm():")
    (tree / "env").mkdir()
    (tree / "env" / "pyvenv.cfg").write_text("home = /usr")
    (tree / "env" / "site.py").write_text("def venv():")
    (tree / ".gitignore").write_text("*.log\nbuild/\n!keep.log\n/src/generated.py\n")
    (tree / "debug.log").write_text("def logged():")
    (tree / "keep.log").write_text("def kept():")
    (tree / "build").mkdir()
    (tree / "build" / "out.py").write_text("def built():")
    (tree / "src" / "generated.py").write_text("def generated():")
    security = sec(tree)
    files = glob_search("**/*", security=security).matches
    assert files == sorted(files)
    assert files == [".gitignore", "README.md", "keep.log", "src/main.py", "src/pkg/util.py"]
    grep_paths = {m.path for m in grep_search(r"def \w+", security=security).matches}
    assert grep_paths == {"keep.log", "src/main.py", "src/pkg/util.py"}
    listed = [e.path for e in list_directory(".", recursive=True, security=security).entries]
    assert listed == sorted(listed)
    assert not {p.split("/")[0] for p in listed} & {".git", "node_modules", "env", "build"}
    assert "debug.log" not in listed and "keep.log" in listed


def test_results_are_capped_and_say_so(tree):
    for i in range(30):
        (tree / f"f{i:02}.txt").write_text("match me\n")
    glob = glob_search("*.txt", max_results=10, security=sec(tree))
    assert glob.truncated and len(glob.matches) == 10
    assert "[results truncated at 10]" in glob.to_text()
    grep = grep_search("match", max_results=5, security=sec(tree))
    assert grep.truncated and len(grep.matches) == 5 and "truncated" in grep.to_text()
    listing = list_directory(".", max_entries=7, security=sec(tree))
    assert listing.truncated and len(listing.entries) == 7
    assert "[listing truncated at 7 entries]" in listing.to_text()


def test_grep_options_and_binary_files(tree):
    (tree / "blob.bin").write_bytes(b"\x00\x01def binary\x00")
    result = grep_search(
        "def", path="src", file_pattern="*.py", context_lines=1, security=sec(tree)
    )
    assert [(m.path, m.line_number) for m in result.matches] == [
        ("src/main.py", 1),
        ("src/pkg/util.py", 3),
    ]
    assert result.matches[1].before == [""] and result.matches[1].after == ["    pass"]
    assert "src/pkg/util.py:3:def helper():" in result.to_text()
    assert grep_search("HELLO", ignore_case=True, security=sec(tree)).matches[0].path == "README.md"
    assert all(m.path != "blob.bin" for m in grep_search("binary", security=sec(tree)).matches)
    with pytest.raises(ValueError, match="invalid regular expression"):
        grep_search("(unclosed", security=sec(tree))


def test_write_append_copy_move_delete_info(tree):
    security = sec(tree)
    write_file("a.txt", "one\n", security=security)
    append_file("a.txt", "two\n", security=security)
    assert read_file("a.txt", security=security) == "one\ntwo\n"
    copy_file("a.txt", "copies/b.txt", security=security)
    move_file("copies/b.txt", "c.txt", security=security)
    assert (tree / "c.txt").read_text() == "one\ntwo\n" and not (tree / "copies/b.txt").exists()
    info = file_info("c.txt", security=security)
    assert info.type == "file" and info.size == 8 and info.path == "c.txt"
    assert file_info("src", security=security).type == "directory"
    delete_file("c.txt", security=security)
    assert not (tree / "c.txt").exists()
    with pytest.raises(IsADirectoryError):
        delete_file("src", security=security)
    with pytest.raises(SandboxError):
        move_file("a.txt", "../outside/a.txt", security=security)


def test_the_sandbox_is_not_in_any_schema_and_cannot_be_passed(tree):
    tools = {t.name: t for t in builtin_tools(sec(tree))}
    assert len(tools) == 12
    for tool in tools.values():
        assert "security" not in str(tool.schema())
    evil = FilesystemSecurity(base_directory="/", sandbox_mode=False)
    with pytest.raises(TypeError, match="unexpected argument"):
        asyncio.run(tools["read_file"].invoke({"path": "/etc/hostname", "security": evil}))
    assert asyncio.run(tools["read_file"].invoke({"path": "README.md"})).startswith("#")
    assert os.getcwd() != str(tree)


def test_anchored_patterns_match_lines_not_just_the_file_start(tree):
    result = grep_search(r"^    return", security=sec(tree))
    assert [(m.path, m.line_number) for m in result.matches] == [("src/main.py", 2)]
    ends = grep_search(r"pass$", security=sec(tree))
    assert [(m.path, m.line_number) for m in ends.matches] == [("src/pkg/util.py", 4)]


def test_a_match_spanning_lines_is_not_reported(tree):
    assert grep_search(r"main\(\):\s+return", security=sec(tree)).matches == []
