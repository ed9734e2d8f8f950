"""Rendering the package templates for one integration.

The templates are the code of the generated package; this module only decides what goes into
them. Text from the schema reaches the output only through ``pyliteral`` (a Python string
literal) or ``pycomment`` (one line that cannot end a comment early).
"""

from __future__ import annotations

import functools
import keyword
import unicodedata
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from generator.integration import Integration

TEMPLATE_SUFFIX = ".jinja"


def templates_root() -> Path:
    return Path(str(resources.files("generator.templates"))) / "package"


def pyliteral(value: Any) -> str:
    """A Python literal that evaluates to ``value`` (``repr`` escapes every unprintable char)."""
    if value is None or isinstance(value, (str, int, bool)):
        return repr(value)
    raise TypeError(f"cannot render {type(value).__name__} as a literal")


def pycomment(value: str) -> str:
    """``value`` on one line: line breaks and other control characters become spaces."""
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in "\x85" else ch
        for ch in value
    )


def is_plain_name(name: str) -> bool:
    """True when ``name`` can be written as a Python identifier as it is."""
    return name.isidentifier() and not keyword.iskeyword(name) and name.isascii()


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.DictLoader(template_sources()),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["pyliteral"] = pyliteral
    environment.filters["pycomment"] = pycomment
    environment.filters["extract"] = lambda key, mapping: mapping[key]
    environment.tests["is_plain_name"] = is_plain_name
    return environment


@functools.cache
def template_sources() -> dict[str, str]:
    """``{template name: source}``, read once: rendering and ``static_outputs`` share them."""
    root = templates_root()
    return {
        path.relative_to(root).as_posix(): path.read_text("utf-8")
        for path in sorted(root.rglob(f"*{TEMPLATE_SUFFIX}"))
    }


def template_names() -> list[str]:
    return sorted(template_sources())


def is_static(source: str) -> bool:
    """A template without Jinja syntax renders the same for every schema."""
    return "{{" not in source and "{%" not in source and "{#" not in source


def static_outputs() -> set[str]:
    """Output paths of the templates that do not depend on the schema.

    They are kept black-formatted in the repository (a test checks it), so they need no
    formatting at generation time: black is the slowest step of ``generate``.
    """
    return {
        name.removesuffix(TEMPLATE_SUFFIX)
        for name, source in template_sources().items()
        if is_static(source)
    }


def render_templates(integration: Integration, context: dict[str, Any]) -> dict[str, str]:
    """``{relative output path: text}`` for every template."""
    environment = _environment()
    rendered = {}
    for name in template_names():
        template = environment.get_template(name)
        text = template.render(integration=integration, **context)
        rendered[name.removesuffix(TEMPLATE_SUFFIX)] = text
    return rendered
