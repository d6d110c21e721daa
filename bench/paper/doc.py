"""The report's document: blocks (headings, paragraphs, lists, tables, figures) written once and rendered
as Markdown and as self-contained HTML (figures inline as base64 PNG)."""
import base64
import html
import io
import re
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


# ---------------------------------------------------------------------------------------------- document
class Doc:
    """Blocks (headings, paragraphs, lists, tables, figures) rendered once as Markdown and once as HTML.
    Text may hold `code` spans."""

    def __init__(self):
        self.blocks, self.figures = [], OrderedDict()   # figures: file name -> PNG bytes
        self.claims = []   # the paper's claims judged in this document (bench.analysis.claims.Verdict), if any
        self.answer = []   # a study's short answer for the README: (Markdown lines, the figure it shows or '')

    def h(self, level, text):
        self.blocks.append(("h", level, text))

    def p(self, text):
        self.blocks.append(("p", text))

    def items(self, items):
        if items:
            self.blocks.append(("list", list(items)))

    def table(self, header, rows):
        self.blocks.append(("table", [str(c) for c in header], [[str(c) for c in r] for r in rows]))

    def figure(self, name, fig, caption):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        self.figures[name] = buf.getvalue()
        self.blocks.append(("fig", name, caption))

    def markdown(self, figure_dir: str = "") -> str:
        """The Markdown text; figures are linked as ``<figure_dir>/<name>`` (default: beside the file)."""
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append("#" * b[1] + " " + b[2])
            elif b[0] == "p":
                out.append(b[1])
            elif b[0] == "list":
                out.append("\n".join(f"- {i}" for i in b[1]))
            elif b[0] == "table":
                cell = lambda c: c.replace("|", "\\|").replace("\n", " ")  # noqa: E731
                lines = ["| " + " | ".join(cell(c) for c in b[1]) + " |", "|" + "---|" * len(b[1])]
                lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in b[2]]
                out.append("\n".join(lines))
            elif b[0] == "fig":
                link = f"{figure_dir}/{b[1]}" if figure_dir else b[1]
                out.append(f"![{_plain(b[2])}]({link})\n\n*{b[2]}*")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        out = [f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
               f"<style>{CSS}</style></head><body>"]
        for b in self.blocks:
            if b[0] == "h":
                slug = re.sub(r"[^a-z0-9]+", "-", _plain(b[2]).lower()).strip("-")
                out.append(f"<h{b[1]} id=\"{slug}\">{_inline(b[2])}</h{b[1]}>")
            elif b[0] == "p":
                out.append(f"<p>{_inline(b[1])}</p>")
            elif b[0] == "list":
                out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>")
            elif b[0] == "table":
                head = "".join(f"<th>{_inline(c)}</th>" for c in b[1])
                body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in b[2])
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif b[0] == "fig":
                data = base64.b64encode(self.figures[b[1]]).decode()
                out.append(f"<figure><img alt=\"{html.escape(_plain(b[2]))}\" src=\"data:image/png;base64,"
                           f"{data}\"><figcaption>{_inline(b[2])}</figcaption></figure>")
        out.append("</body></html>\n")
        return "\n".join(out)


CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
       "table{border-collapse:collapse;margin:.6em 0;font-size:.9em}"
       "th,td{border:1px solid #bbb;padding:.2em .5em;text-align:left}th{background:#eee}"
       "code{background:#f3f3f3;padding:0 .2em}img{max-width:100%}figcaption{font-size:.9em;color:#444}"
       "h2{border-bottom:1px solid #ccc;margin-top:2em}")


def _inline(text: str) -> str:
    """Markdown's inline `code`, **strong** and *emphasis* as HTML (emphasis never inside code)."""
    out = []
    for i, part in enumerate(re.split(r"`([^`]+)`", text)):
        part = html.escape(part, quote=False)
        if i % 2:
            out.append(f"<code>{part}</code>")
            continue
        part = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", part)
        out.append(re.sub(r"\*([^*\s](?:[^*]*[^*\s])?)\*", r"<em>\1</em>", part))
    return "".join(out)


def _plain(text: str) -> str:
    return text.replace("`", "").replace("[", "(").replace("]", ")")
