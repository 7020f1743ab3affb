"""MkDocs hook: the CLI reference and the spec schema pages, generated at build time.

Neither page is a file in the repository: each build writes them from the code
(``cli_reference.py``, ``spec_schema.py``), so they cannot drift from it. The docstrings'
Sphinx roles (``:func:`x```) are shown as plain code on the API page.
"""

from __future__ import annotations

import re

from cli_reference import cli_markdown
from mkdocs.structure.files import File, Files
from spec_schema import schema_markdown

GENERATED = {"reference/cli.md": cli_markdown, "reference/spec.md": schema_markdown}


def on_files(files: Files, config) -> Files:
    for uri, make in GENERATED.items():
        files.append(File.generated(config, uri, content=make()))
    return files


_ROLE = re.compile(r":(?:func|class|meth|mod|attr|exc|data|obj):(?=<code>)")


def on_page_content(html: str, page, config, files) -> str:
    return _ROLE.sub("", html)
