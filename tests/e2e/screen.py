"""What reached a terminal, byte by byte: the control sequences the app itself writes
(an allow-list of the exact shapes Textual and the transcript emit), anything else,
and the screen those bytes draw.

    screen = VirtualScreen(cols, rows)
    screen.feed(text)              # text as the terminal received it
    screen.foreign                 # every control or sequence not on the allow-list
    screen.shows("rm -rf ~")       # on some row of the screen as it is now
    screen.printed                 # the text in order, lines as written (for printed output)
"""

from __future__ import annotations

import codecs
import re

from rich.cells import cell_len

APP_SEQUENCES = r"""
    \x1b\[[0-9;]*m                                            # SGR: colours and text styles
  | \x1b\[\d+;\d+H                                            # cursor to row;column
  | \x1b\[\?(?:1|7|25|1000|1003|1004|1006|1015|1049|2004|2026|2048)[hl]   # modes: cursor, wrap, mouse, focus,
                                                              #   alternate screen, paste, synchronised output
  | \x1b\[\?(?:2026|2048)\$p                                  # asks which of those modes the terminal has
  | \x1b\[>\d+u | \x1b\[<u                                    # keyboard protocol: push, pop
  | \x1b\]22;[a-z-]+\x07                                      # mouse pointer shape
"""
"""Every control sequence Textual writes while drawing, and the transcript's colours."""

_UNSHOWABLE = (
    r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    r"\U000e0000-\U000e007f"
)
"""Characters that are no text: controls (but tab, newline and CR), DEL, C1, bidi
controls and invisible format characters, tag characters."""
_TOKEN = re.compile(
    rf"(?P<app>{APP_SEQUENCES})"
    r"|(?P<newline>\r\n|\r|\n)"
    r"|(?P<foreign>\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~])?"
    rf"|[{_UNSHOWABLE}])"
    rf"|(?P<text>[^\x1b\r\n{_UNSHOWABLE}]+)",
    re.VERBOSE,
)
_INCOMPLETE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?)?\Z")
"""An escape sequence cut off at the end of what has arrived so far."""
_CURSOR = re.compile(r"\x1b\[(\d+);(\d+)H")


class VirtualScreen:
    """A screen fed with what a program wrote to its terminal."""

    def __init__(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        self.grid = [[" "] * cols for _ in range(rows)]
        self.y = self.x = 0
        self._foreign: list[str] = []
        self._printed: list[str] = []
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")  # bytes that are not UTF-8 fail
        self._pending = ""

    def feed_bytes(self, data: bytes) -> None:
        self.feed(self._decoder.decode(data))

    def feed(self, text: str) -> None:
        text = self._pending + text
        cut = _INCOMPLETE.search(text)
        if cut is not None:
            text, self._pending = text[: cut.start()], text[cut.start() :]
        else:
            self._pending = ""
        for match in _TOKEN.finditer(text):
            kind = match.lastgroup
            token = match.group()
            if kind == "foreign":
                self._foreign.append(token)
            elif kind == "newline":
                if token != "\r":
                    self.y += 1
                    self._printed.append("\n")
                self.x = 0
            elif kind == "app":
                cursor = _CURSOR.fullmatch(token)
                if cursor:
                    self.y, self.x = int(cursor.group(1)) - 1, int(cursor.group(2)) - 1
            else:
                self._printed.append(token)
                self._write(token)

    def _write(self, text: str) -> None:
        for char in text:
            width = cell_len(char)
            if width == 0 or not 0 <= self.y < self.rows:
                continue
            if self.x < self.cols:
                self.grid[self.y][self.x] = char
            for extra in range(1, width):
                if self.x + extra < self.cols:
                    self.grid[self.y][self.x + extra] = ""
            self.x += width

    @property
    def foreign(self) -> list[str]:
        """Each control character or sequence the app does not write itself, as it
        arrived (with one left unfinished at the end: the app never leaves one so)."""
        return self._foreign + ([self._pending] if self._pending else [])

    @property
    def printed(self) -> str:
        """The text as written, ignoring cursor moves: what a scrolling terminal shows
        of a program that prints lines."""
        return "".join(self._printed)

    @property
    def lines(self) -> list[str]:
        return ["".join(row) for row in self.grid]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def shows(self, words: str) -> bool:
        return any(words in line for line in self.lines)

    def locate(self, words: str) -> tuple[int, int]:
        """The cell (column, row, from 0) where `words` begins on the screen."""
        for y, row in enumerate(self.grid):
            text, cells = "", []
            for x, char in enumerate(row):
                text += char
                cells += [x] * len(char)
            at = text.find(words)
            if at >= 0:
                return cells[at], y
        raise LookupError(f"{words!r} is not on the screen")
