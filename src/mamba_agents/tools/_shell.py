"""Splitting a bash command line the way bash does, for permission rules.

Only what rules need: the simple commands of a line (split on `;`, `&`, `|`, `&&`, `||`,
`|&`, `(`, `)` and newlines), each as its words after quote removal, with comments removed
exactly where bash removes them (a `#` that starts a word). Anything whose meaning depends on
running it (command or process substitution, here-documents, `$'...'`, `${...}` beyond a
plain name, unbalanced quotes, a command word made by expansion) makes the line *opaque*:
only a whole-tool rule can allow it, and narrow deny rules refuse it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_BLANKS = " \t"
# Longest first, so `&&` is not read as two `&`.
_SEPARATORS = (";;&", ";;", ";&", "&&", "||", "|&", ";", "&", "|", "(", ")", "\n")
_REDIRECTIONS = ("&>>", "&>", ">>", ">|", ">&", "<&", "<>", "<<<", ">", "<")
# Reserved words bash accepts before a command; they are not the command itself.
_LEADING_KEYWORDS = frozenset(
    {"!", "{", "}", "if", "then", "else", "elif", "do", "while", "until", "coproc", "function"}
)
_TRAILING_KEYWORDS = frozenset({"fi", "done", "esac", "}"})
_PLAIN_PARAMETER = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_NAME_CHARS = re.compile(r"[A-Za-z0-9_]")


@dataclass
class ParsedCommand:
    """The simple commands of a command line, and whether parts of it can't be known
    without running it."""

    commands: list[list[str]] = field(default_factory=list)
    opaque: bool = False

    def texts(self) -> list[str]:
        """Each simple command as its words joined by single spaces."""
        return [" ".join(words) for words in self.commands]


class _Splitter:
    def __init__(self, line: str):
        self.line = line
        self.pos = 0
        self.result = ParsedCommand()
        self.words: list[str] = []
        self.word: list[str] = []
        self.in_word = False

    # -- words and commands ------------------------------------------------------------------
    def end_word(self) -> None:
        if self.in_word:
            self.words.append("".join(self.word))
        self.word, self.in_word = [], False

    def end_command(self) -> None:
        self.end_word()
        # A `{` inside a command starts a body (`function f {`, `coproc NAME {`).
        segments: list[list[str]] = [[]]
        for word in self.words:
            if word == "{":
                segments.append([])
            else:
                segments[-1].append(word)
        for words in segments:
            self.add_command(words)
        self.words = []

    def add_command(self, words: list[str]) -> None:
        while words and (words[0] in _LEADING_KEYWORDS or words[0] == "time"):
            words = _skip_options(words[1:]) if words[0] == "time" else words[1:]
        while words and words[-1] in _TRAILING_KEYWORDS:
            words = words[:-1]
        if not words:
            return
        if any(c in words[0] for c in "$*?[{") and not _is_assignment(words[0]):
            # The command itself is chosen by expansion, brace expansion or globbing.
            self.result.opaque = True
        if words[0] in _RUNS_ITS_ARGUMENTS:
            self.result.opaque = True
        self.result.commands.append(words)

    def add(self, text: str) -> None:
        self.word.append(text)
        self.in_word = True

    # -- scanning ----------------------------------------------------------------------------
    def run(self) -> ParsedCommand:
        line = self.line
        while self.pos < len(line):
            char = line[self.pos]
            if char in _BLANKS:
                self.end_word()
                self.pos += 1
            elif char == "#" and not self.in_word:
                end = line.find("\n", self.pos)
                self.pos = len(line) if end < 0 else end
            elif self.redirection() or self.separator():
                continue
            elif char == "\\":
                self.backslash()
            elif char == "'":
                self.single_quoted()
            elif char == '"':
                self.double_quoted()
            elif char == "`":
                self.result.opaque = True
                self.add(char)
                self.pos += 1
            elif char == "$":
                self.dollar()
            else:
                self.add(char)
                self.pos += 1
        self.end_command()
        return self.result

    def separator(self) -> bool:
        for op in _SEPARATORS:
            if self.line.startswith(op, self.pos):
                if op in "()" and self.in_word:
                    # `f()`-style words and `a(b` are not what rules are about: be careful.
                    self.result.opaque = True
                self.end_command()
                self.pos += len(op)
                return True
        return False

    def redirection(self) -> bool:
        line = self.line
        for op in _REDIRECTIONS:
            if line.startswith(op, self.pos):
                if line.startswith(("<(", ">("), self.pos) or (
                    op == "<" and line.startswith("<<", self.pos)
                ):
                    # Process substitution or a here-document.
                    self.result.opaque = True
                # `2>x`: a file-descriptor number before the operator belongs to it.
                if self.in_word and "".join(self.word).isdigit():
                    self.word.append(op)
                else:
                    self.end_word()
                    self.add(op)
                self.end_word()
                self.pos += len(op)
                return True
        return False

    def backslash(self) -> None:
        nxt = self.line[self.pos + 1 : self.pos + 2]
        if nxt == "\n":
            self.pos += 2  # line continuation
            return
        self.add(nxt)
        self.pos += 2

    def single_quoted(self) -> None:
        end = self.line.find("'", self.pos + 1)
        if end < 0:
            self.result.opaque = True
            end = len(self.line)
        self.add(self.line[self.pos + 1 : end])
        self.pos = end + 1

    def double_quoted(self) -> None:
        line = self.line
        self.add("")
        i = self.pos + 1
        while i < len(line) and line[i] != '"':
            char = line[i]
            if char == "\\" and i + 1 < len(line):
                nxt = line[i + 1]
                if nxt == "\n":
                    i += 2
                    continue
                self.add(nxt if nxt in '$`"\\' else char + nxt)
                i += 2
                continue
            substitution = char == "`" or line.startswith(("$(", "${"), i)
            if substitution and not _PLAIN_PARAMETER.match(line, i):
                self.result.opaque = True
            self.add(char)
            i += 1
        if i >= len(line):
            self.result.opaque = True
        self.pos = i + 1

    def dollar(self) -> None:
        line = self.line
        nxt = line[self.pos + 1 : self.pos + 2]
        if nxt in ("(", "'", '"') or (nxt == "{" and not _PLAIN_PARAMETER.match(line, self.pos)):
            self.result.opaque = True
        if nxt == "{":
            end = line.find("}", self.pos)
            end = len(line) - 1 if end < 0 else end
            self.add(line[self.pos : end + 1])
            self.pos = end + 1
            return
        self.add("$")
        self.pos += 1
        if nxt and not _NAME_CHARS.match(nxt) and nxt not in "('\"":
            # A special parameter such as `$#`, `$?` or `$$`: one character, part of the word.
            self.add(nxt)
            self.pos += 1


def _is_assignment(word: str) -> bool:
    name, sep, _ = word.partition("=")
    return bool(sep) and bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name))


def split_command(line: str) -> ParsedCommand:
    """The simple commands of a bash command line, as bash would split them."""
    return _Splitter(line).run()


# Builtins whose arguments become commands only when they run (or that rename commands).
_RUNS_ITS_ARGUMENTS = frozenset({"eval", "trap", "source", ".", "hash", "alias", "shopt", "enable"})
# Commands that run the command given as their arguments: the options that take a value,
# and how many plain arguments come before the command.
_WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    name: (frozenset(options.split()), before)
    for name, options, before in (
        ("command", "", 0),
        ("builtin", "", 0),
        ("exec", "-a", 0),
        ("nohup", "", 0),
        ("setsid", "", 0),
        ("env", "-u --unset -C --chdir -S --split-string", 0),
        ("sudo", "-u --user -g --group -C -D -h -p -r -t -U", 0),
        ("doas", "-u -C", 0),
        ("nice", "-n --adjustment", 0),
        ("ionice", "-c -n -p -t", 0),
        ("stdbuf", "-i -o -e", 0),
        ("time", "-f -o", 0),
        ("timeout", "-s --signal -k --kill-after", 1),
        ("flock", "-w -E -c", 1),
        ("taskset", "", 1),
        ("xargs", "-I -i -n -P -d -a -E -L -s --max-args --max-procs --delimiter --arg-file", 0),
        ("watch", "-n --interval -d", 0),
    )
}
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"})


def _skip_options(words: list[str], with_value: frozenset[str] = frozenset()) -> list[str]:
    """`words` after the leading options (`-x`, `--y`, and the value of each option in
    `with_value`), up to `--`."""
    index = 0
    while index < len(words) and words[index].startswith("-") and words[index] != "-":
        option = words[index]
        index += 1
        if option == "--":
            break
        if option in with_value or (option.split("=", 1)[0] in with_value and "=" not in option):
            index += 1
    return words[index:]


def _unwrapped(words: list[str]) -> list[str]:
    """The command a simple command runs once leading assignments and wrappers are
    removed (`env -u X nice -n 5 rm f` runs `rm f`)."""
    rest = list(words)
    while rest:
        name = rest[0].rsplit("/", 1)[-1]
        if _is_assignment(rest[0]):
            rest = rest[1:]
        elif name in _WRAPPERS:
            with_value, before = _WRAPPERS[name]
            rest = _skip_options(rest[1:], with_value)
            while rest and _is_assignment(rest[0]):
                rest = rest[1:]
            rest = rest[before:]
        else:
            break
    return rest


def command_forms(words: list[str]) -> tuple[list[str], bool]:
    """The ways a deny rule may name one simple command, and whether it runs commands that
    only running it would show. Forms: as written; without leading `VAR=value` assignments
    and wrappers (`env`, `nohup`, `timeout 5`, `xargs`, ...); with its program named by its
    base name (`/bin/rm` as `rm`); and the commands of `sh -c 'STRING'`."""
    forms = [" ".join(words)]
    rest = _unwrapped(words)
    if not rest:
        return forms, False
    name = rest[0].rsplit("/", 1)[-1]
    forms.append(" ".join(rest))
    forms.append(" ".join([name, *rest[1:]]))
    opaque = name in _RUNS_ITS_ARGUMENTS
    if name in _SHELLS:
        script = _shell_script(rest[1:])
        if script is None:
            opaque = opaque or len(rest) > 1  # a script file or stdin: unknown commands
        else:
            inner = split_command(script)
            opaque = opaque or inner.opaque
            for inner_words in inner.commands:
                inner_forms, inner_opaque = command_forms(inner_words)
                forms += inner_forms
                opaque = opaque or inner_opaque
    return list(dict.fromkeys(forms)), opaque


def _shell_script(arguments: list[str]) -> str | None:
    """The script of `sh -c SCRIPT ...` (options before `-c` allowed), else None."""
    for index, word in enumerate(arguments):
        if not word.startswith("-"):
            return None
        if "c" in word.lstrip("-") and not word.startswith("--"):
            return arguments[index + 1] if index + 1 < len(arguments) else ""
    return None
