"""Sphinx configuration of nspv2's documentation (built by tests/test_docs.py with
``-W --keep-going -n``: every warning, broken reference included, fails the build)."""

from __future__ import annotations

project = "nspv2"
author = "nspv2 contributors"
copyright = "nspv2 contributors"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Headings become link targets (`page.md#a-heading`), as on GitHub.
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Python's own names in signatures resolve without the network: nothing is fetched.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

# The standard library's names in type hints: no intersphinx inventory is fetched (the build
# needs no network), so they are not links.
nitpick_ignore_regex = [
    ("py:class", r"(uuid|pathlib|os|asyncio|collections\.abc|typing|enum)\..*"),
]

html_theme = "alabaster"  # Sphinx's own default theme
