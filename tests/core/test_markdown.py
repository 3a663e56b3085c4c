"""Update bodies: Markdown kept, anything that could run script in a reader's browser never."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from broadcaster.core import markdown
from broadcaster.core.markdown import ALLOWED_TAGS, render

SAFE_SCHEMES = {"http", "https", "mailto", "tel"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "background", "poster"}


class Tags(HTMLParser):
    """Every tag and attribute of an HTML fragment, as a browser's tokenizer sees them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.comments: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def handle_decl(self, decl: str) -> None:
        self.comments.append(decl)

    def handle_pi(self, data: str) -> None:
        self.comments.append(data)


def url_scheme(url: str) -> str | None:
    """The scheme a browser would see: tabs, newlines and C0 controls removed, lower case."""
    cleaned = re.sub(r"[\x00-\x20\x7f]", "", url).lower()
    found = re.match(r"^([a-z][a-z0-9+.\-]*):", cleaned)
    return found.group(1) if found else None


def assert_safe(html: str) -> None:
    lowered = html.lower()
    for raw in ("<script", "<iframe", "<img", "<svg", "<object", "<embed", "<style", "<math", "<form"):
        assert raw not in lowered, html
    parsed = Tags(html)
    assert not parsed.comments, html
    for tag, attrs in parsed.tags:
        assert tag in ALLOWED_TAGS, html
        for name, value in attrs:
            assert not name.startswith("on"), html
            assert name not in {"style", "srcdoc", "formaction"}, html
            if name in URL_ATTRIBUTES and value is not None:
                scheme = url_scheme(value)
                assert scheme is None or scheme in SAFE_SCHEMES, html
    # Belt and braces, on the string itself: no real <a> tag carries such a URL.
    for match in re.finditer(r'<a\b[^>]*\bhref\s*=\s*"([^"]*)"', html, re.IGNORECASE):
        assert "javascript:" not in match.group(1).lower(), html
        assert not match.group(1).lower().startswith("data:"), html


# --- what is kept --------------------------------------------------------------------


def test_bold_and_emphasis() -> None:
    assert render("**停水** 至 *18时*") == "<p><strong>停水</strong> 至 <em>18时</em></p>"


def test_strikethrough() -> None:
    html = render("~~18时~~ 20时")
    assert re.fullmatch(r"<p><(s|del)>18时</\1> 20时</p>", html), html


def test_lists() -> None:
    assert render("- 文化路\n- 花园路") == "<ul>\n<li>文化路</li>\n<li>花园路</li>\n</ul>"
    assert render("1. 关闭阀门\n2. 抢修") == "<ol>\n<li>关闭阀门</li>\n<li>抢修</li>\n</ol>"
    assert render("3. 第三步\n4. 第四步").startswith('<ol start="3">')


def test_links_get_rel_nofollow() -> None:
    html = render("详见[自来水公司公告](https://water.example.cn/notice?id=1&x=2)")
    parsed = Tags(html)
    links = [dict(attrs) for tag, attrs in parsed.tags if tag == "a"]
    assert len(links) == 1
    assert links[0]["href"] == "https://water.example.cn/notice?id=1&x=2"
    rel = (links[0].get("rel") or "").split()
    assert "nofollow" in rel
    assert "noopener" in rel
    assert ">自来水公司公告</a>" in html


@pytest.mark.parametrize(
    ("body", "href"),
    [
        ("<https://example.org/a>", "https://example.org/a"),
        ("[电话](tel:+86-371-12345)", "tel:+86-371-12345"),
        ("<mailto:press@example.org>", "mailto:press@example.org"),
    ],
)
def test_safe_link_schemes_are_kept(body: str, href: str) -> None:
    links = [dict(attrs) for tag, attrs in Tags(render(body)).tags if tag == "a"]
    assert [link["href"] for link in links] == [href]
    assert "nofollow" in (links[0].get("rel") or "")


def test_tables() -> None:
    html = render("| 区域 | 恢复时间 |\n|---|---|\n| 文化路 | 18:00 |\n| 花园路 | 20:00 |")
    assert html.startswith("<table>")
    tags = [tag for tag, _ in Tags(html).tags]
    assert tags.count("table") == 1
    assert tags.count("th") == 2
    assert tags.count("td") == 4
    assert "<th>区域</th>" in html
    assert "<td>花园路</td>" in html


def test_headings_are_demoted() -> None:
    assert render("# 标题") == "<h3>标题</h3>"
    assert render("## 标题") == "<h3>标题</h3>"
    assert render("#### 标题") == "<h4>标题</h4>"


def test_code_and_quotes() -> None:
    assert render("`a < b`") == "<p><code>a &lt; b</code></p>"
    assert render("> 市民来电") == "<blockquote>\n<p>市民来电</p>\n</blockquote>"


@pytest.mark.parametrize(
    "text",
    [
        "自来水公司工作人员已前往现场，正在全力抢修。",
        "预计今日18时恢复供水；请市民提前储水（文化路花园路—东风路段）。",
        "「注意」：绕行 ‘东风路’ 或 “花园路” …… 谢谢配合！",
        "𠮷野家 〇 々 ㊙ 𝒜",
    ],
)
def test_chinese_text_is_preserved_exactly(text: str) -> None:
    assert render(text) == f"<p>{text}</p>"


def test_chinese_text_inside_markup_is_preserved() -> None:
    html = render("**停水区域**：文化路（花园路—东风路段）\n\n- 预计恢复：18时")
    assert "<strong>停水区域</strong>：文化路（花园路—东风路段）" in html
    assert "<li>预计恢复：18时</li>" in html


def test_plain_angle_brackets_are_text() -> None:
    assert render("水压 < 0.1MPa > 正常") == "<p>水压 &lt; 0.1MPa &gt; 正常</p>"


# --- what never gets through ---------------------------------------------------------

XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    "<<script>script>alert(1)<</script>/script>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=JaVaScRiPt:alert(1)>",
    '<img src="x" onerror="alert(1)"/>',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<iframe src="https://evil.example"></iframe>',
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '<a href="javascript:alert(1)">点击</a>',
    '<a href="https://ok.example" onclick="alert(1)">点击</a>',
    "<object data=javascript:alert(1)>",
    '<embed src="data:text/html,<script>alert(1)</script>">',
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<math><mi xlink:href=javascript:alert(1)>x</mi></math>",
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<!-- <script>alert(1)</script> -->",
    "[点击](javascript:alert(1))",
    "[点击](JaVaScRiPt:alert(1))",
    "[点击](javascript&colon;alert(1))",
    "[点击](&#106;avascript:alert(1))",
    "[点击](java&#x09;script:alert(1))",
    "[点击](java%0ascript:alert(1))",
    "[点击](<javascript:alert(1)>)",
    "[点击](\n javascript:alert(1))",
    "[点击](vbscript:msgbox(1))",
    "[点击](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[点击](data:text/html,<script>alert(1)</script>)",
    "[点击][x]\n\n[x]: javascript:alert(1)",
    '[点击](https://ok.example "\\" onmouseover=alert(1) x=")',
    '[点击](https://ok.example/"onmouseover="alert(1))',
    "<javascript:alert(1)>",
    "<data:text/html,alert(1)>",
    "![x](javascript:alert(1))",
    '![x](https://ok.example/a.png "x" onerror="alert(1)")',
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "| a |\n|---|\n| <script>alert(1)</script> |",
    "- <img src=x onerror=alert(1)>",
    "> <iframe src=https://evil.example>",
    "```html\n<script>alert(1)</script>\n```",
    "    <svg onload=alert(1)>",
    "**<script>alert(1)</script>**",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
]


@pytest.mark.parametrize("body", XSS)
def test_xss_never_gets_through(body: str) -> None:
    assert_safe(render(body))


@pytest.mark.parametrize("body", XSS)
def test_xss_inside_chinese_text_never_gets_through(body: str) -> None:
    html = render(f"停水通知：{body} 请市民注意")
    assert_safe(html)
    assert "停水通知" in html


@pytest.mark.parametrize(
    "body",
    [
        "<b>粗体</b>",
        "<div>块</div>",
        "<span style='color:red'>红</span>",
        "<p>段落</p>",
        '<a href="https://ok.example">链接</a>',
        "<br>",
        "<h1>大标题</h1>",
    ],
)
def test_raw_html_is_shown_as_text_not_markup(body: str) -> None:
    html = render(body)
    assert_safe(html)
    # The tags the author typed are visible text, not elements.
    assert "&lt;" in html
    assert [tag for tag, _ in Tags(html).tags] == ["p"]


@pytest.mark.parametrize(
    "raw",
    [
        "<p><script>alert(1)</script>ok</p>",
        "<p><img src=x onerror=alert(1)>ok</p>",
        "<p><svg onload=alert(1)></svg>ok</p>",
        '<p><iframe src="https://evil.example"></iframe>ok</p>',
        '<p><a href="javascript:alert(1)">ok</a></p>',
        '<p><a href="data:text/html,alert(1)">ok</a></p>',
        '<p><a href="https://ok.example" onclick="alert(1)" style="x">ok</a></p>',
        '<p onmouseover="alert(1)">ok</p>',
        "<p><style>p{}</style>ok</p>",
        "<p><!-- c -->ok</p>",
    ],
)
def test_sanitiser_cleans_even_if_the_renderer_let_html_through(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Second layer: whatever the Markdown renderer produced, only allowed markup remains."""

    class Leaky:
        def render(self, body: str) -> str:
            return body

    monkeypatch.setattr(markdown, "_md", Leaky())
    html = render(raw)
    assert_safe(html)
    assert "ok" in html
