"""Reading prompts: prompt-toolkit on a terminal, plain lines when stdin is piped."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

NEWLINE_KEYS = "Alt-Enter or Ctrl-J"


class PipedInput:
    """One prompt per line from a non-terminal stdin; nobody to ask, so asks are refused."""

    interactive = False

    async def read(self) -> str | None:
        from mamba_cli.output import valid_text

        line = await asyncio.to_thread(sys.stdin.buffer.readline)
        return valid_text(line).rstrip("\n") if line else None

    async def ask(self, question: str, choices: str) -> str | None:
        return "n"

    def keys_between_prompts(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class TerminalInput:
    """prompt-toolkit: persistent history, Ctrl-R search, multi-line input, $EDITOR
    (Ctrl-X Ctrl-E), tab completion, and a bottom toolbar."""

    interactive = True

    def __init__(self, history: Path, completer: Any, toolbar: Callable[[], str]):
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings

        history.parent.mkdir(parents=True, exist_ok=True)
        bindings = KeyBindings()

        @bindings.add("escape", "enter")
        @bindings.add("c-j")
        def _newline(event: Any) -> None:
            event.current_buffer.insert_text("\n")

        self.session: Any = PromptSession(
            history=FileHistory(str(history)),
            completer=completer,
            complete_while_typing=False,
            key_bindings=bindings,
            enable_open_in_editor=True,
            bottom_toolbar=lambda: toolbar(),
            prompt_continuation="… ",
        )

    async def read(self) -> str | None:
        """The next prompt; None at end of input (Ctrl-D). Ctrl-C raises KeyboardInterrupt."""
        try:
            return await self.session.prompt_async("› ", handle_sigint=False)
        except EOFError:
            return None

    @contextlib.contextmanager
    def keys_between_prompts(self) -> Iterator[None]:
        """While the chat runs, keys typed between prompts (during an answer) wait for the
        next prompt: they are not echoed into the answer, Enter submits that prompt, and a
        Ctrl-D stays a key (in the terminal's line mode it would be lost); Ctrl-C still
        signals. Each prompt switches to raw mode and back to this."""
        import termios

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        held = termios.tcgetattr(fd)
        held[0] &= ~termios.ICRNL  # Enter stays Enter (a CR), so it submits the next prompt
        held[3] &= ~(termios.ICANON | termios.ECHO)
        held[6][termios.VMIN], held[6][termios.VTIME] = 1, 0
        termios.tcsetattr(fd, termios.TCSANOW, held)
        try:
            yield
        finally:
            termios.tcsetattr(fd, termios.TCSANOW, saved)

    async def ask(self, question: str, choices: str) -> str | None:
        """A one-letter answer among `choices` (the first is the default on Enter), also
        given as its word (`yes`, `always`, `no`); anything else asks again. None when
        Ctrl-C stops the question."""
        from prompt_toolkit import PromptSession

        if discard_pending_keys():
            print("(keys typed before this question were dropped)", flush=True)
        asker: Any = PromptSession()
        while True:
            try:
                answer = (await asker.prompt_async(question, handle_sigint=False)).strip().lower()
            except EOFError:
                return "n"
            except KeyboardInterrupt:
                return None
            if not answer:
                return choices[0]
            if answer in choices or ANSWER_WORDS.get(answer, "-") in choices:
                return ANSWER_WORDS.get(answer, answer)


ANSWER_WORDS = {"yes": "y", "always": "a", "no": "n"}


def discard_pending_keys() -> bool:
    """Drop keys typed before a question appeared (so none of them can answer it); True
    when there were any."""
    import select
    import termios

    fd = sys.stdin.fileno()
    pending = bool(select.select([fd], [], [], 0)[0])
    termios.tcflush(fd, termios.TCIFLUSH)
    return pending


class ChatCompleter:
    """Completes slash commands (with their help) and file paths."""

    def __init__(self, commands: Callable[[], Iterable[tuple[str, str]]]):
        from prompt_toolkit.completion import PathCompleter

        self._commands = commands
        self._paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Any, complete_event: Any) -> Iterable[Any]:
        from prompt_toolkit.completion import Completion
        from prompt_toolkit.document import Document

        text = document.text_before_cursor
        if text.startswith("/") and " " not in text:
            for name, help_text in self._commands():
                if name.startswith(text):
                    yield Completion(name, start_position=-len(text), display_meta=help_text)
            return
        word = text.split()[-1] if text and not text[-1].isspace() else ""
        target = word[1:] if word.startswith("@") else word
        if target and ("/" in target or target.startswith((".", "~"))):
            yield from self._paths.get_completions(Document(target), complete_event)

    async def get_completions_async(self, document: Any, complete_event: Any) -> Any:
        for completion in self.get_completions(document, complete_event):
            yield completion


def make_completer(commands: Callable[[], Iterable[tuple[str, str]]]) -> Any:
    """A prompt-toolkit completer built lazily (prompt_toolkit loads only for the REPL)."""
    from prompt_toolkit.completion import Completer

    class _Completer(ChatCompleter, Completer):
        pass

    return _Completer(commands)
