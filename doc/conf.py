"""Sphinx configuration of the fairmot_ros documentation (``make docs``).

The source folder is the repository root (``sphinx-build -c doc . doc/_build/html``), so that
README.md, the pages in doc/ and the demonstration model's card are built together and every
link between them, anchors included, is checked (``-W -n``: a missing target is an error).
Nothing else in the repository is read: ``include_patterns`` names the three places.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

project = "fairmot_ros"
release = re.search(
    r'^__version__ = "([^"]+)"', (ROOT / "fairmot_ros" / "__init__.py").read_text(), re.MULTILINE
).group(1)
version = release

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "doc/index"
include_patterns = ["README.md", "doc/**", "fairmot_ros/default_model/MODEL_CARD.md"]
# Prune every other top-level folder (.venv, .git, build outputs, ...) from Sphinx's walk.
exclude_patterns = [
    path.name
    for path in ROOT.iterdir()
    if path.is_dir() and path.name not in ("doc", "fairmot_ros")
] + ["doc/_build", "**/__pycache__"]

# GitHub-style anchors for headings down to ####, so "page.md#some-heading" links resolve in
# the HTML as they do on GitHub (and a missing one is a warning, an error with -W).
myst_heading_anchors = 4
nitpicky = True
highlight_language = "none"

html_theme = "alabaster"
html_title = f"fairmot_ros {release}"
html_show_copyright = False
html_theme_options = {
    "description": "FairMOT multi-object tracking for ROS 2",
    "fixed_sidebar": True,
}
