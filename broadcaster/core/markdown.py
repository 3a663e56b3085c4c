"""Update bodies: Markdown as written, rendered to HTML that is safe on any page.

Two layers, because one mistake must not reach a citizen's browser: markdown-it
runs with raw HTML disabled (tags are shown as text), and nh3 then allows only a
short list of tags and attributes, whatever the renderer produced.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "a", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}


def render(body: str) -> str:
    """Render a Markdown body to sanitised HTML (no script, no event handlers)."""
    html = _md.render(body)
    # Headings 1-2 would fight the page's own; they render as h3.
    html = html.replace("<h1>", "<h3>").replace("</h1>", "</h3>")
    html = html.replace("<h2>", "<h3>").replace("</h2>", "</h3>")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="nofollow noopener noreferrer",
    ).strip()


def plain_text(html: str) -> str:
    """The text of rendered HTML, tags dropped (for titles, excerpts, announcements)."""
    import html as html_lib

    return " ".join(html_lib.unescape(nh3.clean(html, tags=set())).split())


def excerpt(html: str, limit: int = 80) -> str:
    text = plain_text(html)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
