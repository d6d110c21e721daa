"""The docs, checked: every ```python snippet of README.md and docs/ runs as written, every relative link points at a
file (and a heading of it, for a link with an anchor), the README stays short and no page names a path of one machine.

Generated pages (docs/reproduction-cpu.md, docs/leaderboard-cpu.md, docs/precision-parity.md and their figure folders)
hold no snippet to run; their links are checked like every page's."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import ROOT

GENERATED = ("docs/reproduction-cpu.md", "docs/leaderboard-cpu.md", "docs/precision-parity.md",
             "docs/reproduction-cpu/", "docs/leaderboard-cpu/")
README_MAX_LINES = 150
FENCE = re.compile(r"^```[^\n]*\n.*?^```[ \t]*$", re.S | re.M)
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
MODULE_NAME = re.compile(r"#\s*([A-Za-z_]\w*)\.py\s*$")          # a snippet whose first line is "# my_data.py"
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def doc_files(skip_generated=False):
    """README.md and every Markdown page under docs/, as paths relative to the repository root."""
    out = ["README.md"]
    for folder, _, files in os.walk(os.path.join(ROOT, "docs")):
        out += [os.path.relpath(os.path.join(folder, f), ROOT).replace(os.sep, "/") for f in files
                if f.endswith(".md")]
    if skip_generated:
        out = [f for f in out if not any(f == g or (g.endswith("/") and f.startswith(g)) for g in GENERATED)]
    return sorted(out)


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def snippets():
    """[(doc, block number from 1, code)] of every ```python block, in document order."""
    return [(doc, i, code) for doc in doc_files(skip_generated=True)
            for i, code in enumerate(PYTHON_BLOCK.findall(read(doc)), 1)]


SNIPPETS = snippets()


def module_name(code):
    first = code.lstrip("\n").split("\n", 1)[0]
    m = MODULE_NAME.fullmatch(first.strip())
    return m.group(1) if m else None


def user_inputs(work, data_root, doc):
    """What a reader of ``doc`` has beside the snippet: the modules the page tells them to save (a snippet whose
    first line is ``# name.py``) in the working folder, and the data the page's loader reads under the data root
    (``scans.npz``: 2 classes of 16x16 grey images, arrays ``xtr, ytr, xte, yte``)."""
    for d, _, code in SNIPPETS:
        name = module_name(code)
        if d == doc and name:
            (work / f"{name}.py").write_text(code, encoding="utf-8")
    gen = np.random.default_rng(0)
    np.savez(data_root / "scans.npz", xtr=gen.integers(0, 256, (200, 16, 16), dtype=np.uint8),
             ytr=np.arange(200) % 2, xte=gen.integers(0, 256, (40, 16, 16), dtype=np.uint8), yte=np.arange(40) % 2)


def test_snippets_are_found():
    assert len(SNIPPETS) >= 3, f"only {len(SNIPPETS)} ```python snippets found in README.md and docs/"
    assert all(code.strip() for _, _, code in SNIPPETS), "an empty ```python block"


@pytest.mark.parametrize("doc,number,code", SNIPPETS, ids=[f"{d}#{i}" for d, i, _ in SNIPPETS])
def test_snippet_runs(doc, number, code, tmp_path):
    work, data_root = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    data_root.mkdir()
    user_inputs(work, data_root, doc)
    script = work / "doc_snippet.py"
    script.write_text(code, encoding="utf-8")                   # the snippet's text exactly as the page shows it
    env = dict(os.environ, PYTHONPATH=ROOT, ALBENCH_DATA=str(data_root), MPLBACKEND="Agg",
               OMP_NUM_THREADS="1")                             # one thread: snippets are tiny, the machine shared
    r = subprocess.run([sys.executable, str(script)], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.fail(f"{doc}, python block {number} exited {r.returncode}:\n--- stderr ---\n{r.stderr}"
                    f"\n--- stdout (tail) ---\n{r.stdout[-2000:]}", pytrace=False)


def test_readme_is_short():
    n = len(read("README.md").splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines (at most {README_MAX_LINES}): move a section to docs/"


def test_relative_links_point_at_files():
    broken = []
    for doc in doc_files():
        text = FENCE.sub("", read(doc))                           # code blocks hold no links
        text = re.sub(r"`[^`]*`", "", text)                       # nor do inline code spans
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.split("?", 1)[0].partition("#")
            full = os.path.normpath(os.path.join(ROOT, os.path.dirname(doc), path or os.path.basename(doc)))
            if not os.path.exists(full):
                broken.append(f"{doc}: ({target})")
            elif anchor and full.endswith(".md") and anchor not in heading_anchors(full):
                broken.append(f"{doc}: ({target}): no heading of that anchor")
    assert not broken, "relative links to missing files or headings:\n" + "\n".join(broken)


HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.M)


def heading_anchors(path):
    """The anchors GitHub gives a page's ATX headings (outside code fences): the rendered text (a link's text,
    no emphasis or code marks) in lower case, punctuation dropped, spaces as hyphens; -1, -2, ... for repeats."""
    text = re.sub(r"^(```|~~~).*?^\1[ \t]*$", "", open(path, encoding="utf-8").read(), flags=re.S | re.M)
    seen, out = {}, set()
    for _, head in HEADING.findall(text):
        head = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", head).split("`")    # a link or image: its text
        head = "".join(p if i % 2 else re.sub(r"\*+|(?<!\w)_+|_+(?!\w)", "", p)   # emphasis marks, not code's
                       for i, p in enumerate(head))
        slug = re.sub(r"[^\w\- ]", "", head.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_heading_anchors_follow_githubs_rules(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# albench — the *fair* protocol ##\n## Notes\n## Notes\n## See [the rule](x.md)\n"
                    "```\n# not a heading\n```\n~~~\n## nor this\n~~~\n####### seven is text\n## `code` and A/B\n"
                    "## `long_tail`: x_y and _em_\n")
    assert heading_anchors(str(page)) == {"albench--the-fair-protocol", "notes", "notes-1", "see-the-rule",
                                          "code-and-ab", "long_tail-x_y-and-em"}


def test_no_page_names_a_machine_path():
    hits = [doc for doc in doc_files() if "/work/" in read(doc)]
    assert not hits, f"pages naming an absolute path of one machine (/work/...): {hits}"
