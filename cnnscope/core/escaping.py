"""Names from a pull request (models, layers, spec files) as text for the format they land in.

CI posts cnnscope's Markdown as a pull-request comment, and a layer may be named `<img src=...>`, hold a `|`
that splits a table cell, a backtick that ends a code span, a newline that ends a bullet, or a code fence
that swallows the rest of the comment. Every name passes through one of these before it is written, and is
cut to MAX_NAME characters, so that one 60,000-character name cannot make a 9 MiB page.
"""
from __future__ import annotations

import html
import re

MAX_NAME = 120
# What starts markup inside a line (emphasis, code, links, images, tables, strike-through, headings); CommonMark
# lets any ASCII punctuation be escaped with a backslash. A name never starts a line (one_line), so list and
# heading markers at a line's start cannot arise.
_PUNCTUATION = re.compile(r"([\\`*\[\]|!~#])")
# "_" emphasizes only at a word's edge (CommonMark's flanking rule): conv1_bn stays as it is, _x_ does not.
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def cut(text: str, limit: int = MAX_NAME) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str) -> str:
    """TEXT with every line break and control character as a space: a name never starts a new line."""
    return "".join(c if c.isprintable() else " " for c in str(text))


def md_code(text: str) -> str:
    """A name as a Markdown code span: HTML in it stays literal; a backtick, which would end the span, becomes a
    quote, and a pipe is escaped, since GitHub splits table cells before it reads code spans."""
    return "`" + cut(one_line(text)).replace("`", "'").replace("|", "\\|") + "`"


def md_text(text: str, limit: int = MAX_NAME) -> str:
    """A name, or (with a larger LIMIT) a sentence holding names, as Markdown text: HTML and Markdown
    punctuation escaped."""
    escaped = _PUNCTUATION.sub(r"\\\1", html.escape(cut(one_line(text), limit), quote=False))
    return _EDGE_UNDERSCORE.sub(r"\\_", escaped)


def html_text(text: str) -> str:
    """A name inside HTML (a <summary>, a cell): one line, cut, escaped."""
    return html.escape(cut(one_line(text)))
