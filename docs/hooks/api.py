"""MkDocs hook: the API reference page (docs/api.md) generated from the docstrings.

``mkdocs build`` calls :func:`on_page_markdown` for each page; on ``api.md`` it
replaces the ``<!-- api -->`` marker with :func:`render`'s Markdown, so the reference is
always that of the code being built. ``python docs/hooks/api.py`` prints it.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

MARKER = "<!-- api -->"
# module -> its public names are documented (its __all__), in this order
MODULES = ("hpo", "hpo.study", "hpo.space", "hpo.objective", "hpo.continuation",
           "hpo.artifacts", "hpo.runner", "hpo.runner.loop", "hpo.runner.command",
           "hpo.samplers", "hpo.llm", "hpo.integrations")


def _doc_markdown(doc: str) -> str:
    """A docstring as Markdown: doctest examples become ``pycon`` code blocks."""
    out: list[str] = []
    in_code = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.startswith(">>>") and not in_code:
            out.append("```pycon")
            in_code = True
        if in_code and not stripped:
            out.append("```")
            in_code = False
        out.append(line.strip() if in_code else line)
    if in_code:
        out.append("```")
    return "\n".join(out)


def _signature(name: str, obj: Any) -> str:
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return name
    return f"{'class ' if inspect.isclass(obj) else ''}{name}{sig}"


def render(modules: tuple[str, ...] = MODULES) -> str:
    """Markdown for the public names (``__all__``) of ``modules``, with their docstrings."""
    parts: list[str] = []
    seen: set[int] = set()
    for modname in modules:
        module = importlib.import_module(modname)
        parts.append(f"## `{modname}`\n\n{_doc_markdown(inspect.getdoc(module) or '')}\n")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if id(obj) in seen or not (callable(obj) or inspect.isclass(obj)):
                continue
            seen.add(id(obj))
            where = getattr(obj, "__module__", modname)
            doc = inspect.getdoc(obj) or "(no docstring)"
            parts.append(f"### `{modname}.{name}`\n\n```python\n{_signature(name, obj)}\n```\n\n"
                         f"{_doc_markdown(doc)}\n\n*Defined in `{where}`.*\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """MkDocs event: fill the marker of the API page."""
    if MARKER in markdown:
        return markdown.replace(MARKER, render())
    return markdown


if __name__ == "__main__":
    print(render())
