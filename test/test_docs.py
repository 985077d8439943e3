"""The documentation: README.md stays short, its links into doc/ resolve, and the HTML builds.

The build is the one of ``make docs`` (Sphinx + MyST, source folder the repository root,
configuration doc/conf.py) with warnings as errors, so a missing page, image or heading anchor
fails it. The links are also checked here the way GitHub resolves them (file paths relative to
the page, anchors as GitHub derives them from headings), which is how most readers see them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOC = REPO / "doc"
README_MAX_LINES = 300
IMAGE_MAX_BYTES = 150_000

# [text](target) and ![alt](target); targets hold no spaces or parentheses in these files.
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _markdown_files() -> list[Path]:
    return [README, *sorted(DOC.glob("*.md"))]


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code spans (links there are not links)."""
    kept, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        kept.append("" if fenced else line)
    return re.sub(r"`[^`\n]*`", "``", "\n".join(kept))


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: link text, lower case, punctuation dropped, - for space."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a markdown file, numbered like GitHub's for repeated headings."""
    seen: dict[str, int] = {}
    result = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            anchor = github_anchor(match.group(2))
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            result.add(anchor if count == 0 else f"{anchor}-{count}")
    return result


def relative_links(path: Path) -> list[str]:
    targets = LINK.findall(_prose(path.read_text(encoding="utf-8")))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]  # http:, mailto:


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move reference text to doc/"
    )


def test_readme_links_into_doc() -> None:
    """The README points into doc/: the index, the pages by topic and the picture."""
    targets = {link.split("#", 1)[0] for link in relative_links(README)}
    assert "doc/index.md" in targets
    for page in sorted(DOC.glob("*.md")):
        if page.name != "index.md":
            assert f"doc/{page.name}" in targets, f"README.md does not link to doc/{page.name}"
    assert any(t.startswith("doc/images/") for t in targets), "README.md shows no picture"


@pytest.mark.parametrize("page", _markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_and_anchors_resolve(page: Path) -> None:
    broken = []
    for link in relative_links(page):
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{link}: no file {path}")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{link}: no heading with anchor #{anchor} in {path.name}")
        elif path.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif", ".svg"):
            size = path.stat().st_size
            if size > IMAGE_MAX_BYTES:
                broken.append(f"{link}: {size} bytes (at most {IMAGE_MAX_BYTES})")
    assert not broken, f"{page.relative_to(REPO)}:\n" + "\n".join(broken)


def test_anchor_rule_matches_github() -> None:
    assert github_anchor("From a FairMOT checkpoint to ONNX (`fairmot-export`)") == (
        "from-a-fairmot-checkpoint-to-onnx-fairmot-export"
    )
    assert github_anchor("ONNX Runtime: GPU or CPU build") == "onnx-runtime-gpu-or-cpu-build"
    assert github_anchor("BYTE-style second pass (optional)") == "byte-style-second-pass-optional"


def test_html_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    pytest.importorskip("sphinx", reason="Sphinx is not installed: run make setup")
    pytest.importorskip("myst_parser", reason="myst-parser is not installed: run make setup")
    html = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
         "-c", str(DOC), "-d", str(tmp_path / "doctrees"), str(REPO), str(html)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stderr}{result.stdout}"
    built = {path.relative_to(html).as_posix() for path in html.rglob("*.html")}
    expected = {"README.html", "fairmot_ros/default_model/MODEL_CARD.html"} | {
        f"doc/{page.stem}.html" for page in DOC.glob("*.md")
    }
    assert expected <= built, f"pages missing from the HTML: {sorted(expected - built)}"
    assert (html / "_images" / "tracked_frame.jpg").is_file()


def test_readme_python_example_runs(tmp_path: Path) -> None:
    """The README's "Use it from Python" example runs as printed, on a short video of moving
    people-sized blobs instead of PETS09-S2L1 (only the file name is changed)."""
    import cv2
    import numpy as np

    section = README.read_text(encoding="utf-8").split("## Use it from Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    source = '".cache/pets09-s2l1/vtest.avi"'
    assert source in code
    video = tmp_path / "walk.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    assert writer.isOpened()
    for i in range(8):
        frame = np.full((240, 320, 3), 90, np.uint8)
        cv2.rectangle(frame, (40 + 6 * i, 60), (70 + 6 * i, 150), (40, 40, 160), -1)
        writer.write(frame)
    writer.release()
    script = tmp_path / "example.py"
    script.write_text(code.replace(source, repr(str(video))), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for line in done.stdout.splitlines():  # frame, id, tlwh and score of each reported track
        assert 1 <= int(line.split()[0]) <= 8, line
