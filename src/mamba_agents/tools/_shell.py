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
_LEADING_KEYWORDS = frozenset({"!", "{", "}", "if", "then", "else", "elif", "do", "time"})
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
        words = self.words
        while words and words[0] in _LEADING_KEYWORDS:
            words = words[1:]
        while words and words[-1] in _TRAILING_KEYWORDS:
            words = words[:-1]
        if words:
            if any(c in words[0] for c in "$*?[") and not _is_assignment(words[0]):
                # The command itself is chosen by expansion or globbing.
                self.result.opaque = True
            self.result.commands.append(words)
        self.words = []

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


# Commands that run the command given as their arguments.
_WRAPPERS = frozenset({"command", "builtin", "exec", "nohup", "env", "sudo", "doas", "nice"})


def command_forms(words: list[str]) -> list[str]:
    """The ways a deny rule may name one simple command: as written, without leading
    `VAR=value` assignments and wrappers such as `env` or `nohup`, and with its program
    named by its base name (`/bin/rm` as `rm`)."""
    forms = [" ".join(words)]
    rest = list(words)
    while rest:
        if _is_assignment(rest[0]) or rest[0] in _WRAPPERS:
            rest = rest[1:]
            # Options of a wrapper (`env -i`, `nice -n 5`) are skipped with it.
            while rest and rest[0].startswith("-"):
                rest = rest[1:]
            continue
        break
    if rest:
        forms.append(" ".join(rest))
        if "/" in rest[0]:
            forms.append(" ".join([rest[0].rsplit("/", 1)[-1], *rest[1:]]))
    return list(dict.fromkeys(forms))
