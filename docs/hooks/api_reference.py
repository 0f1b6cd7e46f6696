"""mkdocs hook: the API reference pages, generated from the package's own export table.

Every name in ``anystream.__all__`` gets its own entry (anchor ``anystream.<name>``) on the
page of the family that defines it (``anystream._EXPORTS`` maps a name to its module), so
a new operator appears in the reference as soon as it is exported; nothing is listed by hand.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from mkdocs.structure.files import File, Files

import anystream

# module (relative, as in anystream._EXPORTS) -> page title; unknown modules go to "Other".
FAMILIES = {
    "._core.operator": "Core types",
    "._core.runner": "Core types",
    "._core.shutdown": "Core types",
    "._core.stats": "Core types",
    "._core.stream": "Core types",
    ".ops.create": "Creating streams",
    ".ops.transform": "Transforming",
    ".ops.select": "Selecting",
    ".ops.combine": "Combining",
    ".ops.flow": "Flow control",
    ".ops.time": "Time",
    ".ops.window": "Windows",
    ".ops.aggregate": "Aggregating",
    ".ops.offload": "Threads and processes",
    ".ops.delivery": "Delivery and errors",
    ".ops.errors": "Delivery and errors",
    ".resilience": "Resilience",
}
MODULE_PAGES = {
    "anystream.testing": "Testing",
    "anystream.observe": "Observability",
    "anystream.connectors.redis": "Redis Streams",
}


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")


def pages() -> dict[str, str]:
    """``{path: markdown}`` for every reference page."""
    by_family: dict[str, list[str]] = defaultdict(list)
    for name in anystream.__all__:
        module = anystream._EXPORTS[name]
        # A family module not in the table yet gets a page named after the module.
        by_family[FAMILIES.get(module, module.rsplit(".", 1)[-1].strip("_").capitalize())].append(
            name
        )
    out: dict[str, str] = {}
    index = ["# API reference", "", "Every public name of `anystream`, by family.", ""]
    order = list(FAMILIES.values())
    for title in sorted(by_family, key=lambda t: (order.index(t) if t in order else len(order), t)):
        path = f"reference/{_slug(title)}.md"
        names = sorted(by_family[title], key=str.lower)
        body = [f"# {title}", ""]
        for name in names:
            body += [f"::: anystream.{name}", "    options:", "      show_root_heading: true", ""]
        out[path] = "\n".join(body)
        index.append(f"- [{title}]({_slug(title)}.md): " + ", ".join(f"`{n}`" for n in names))
    for module, title in MODULE_PAGES.items():
        path = f"reference/{_slug(title)}.md"
        out[path] = (
            f"# {title}\n\n::: {module}\n    options:\n"
            "      show_root_heading: true\n      show_submodules: true\n"
        )
        index.append(f"- [{title}]({_slug(title)}.md): `{module}`")
    out["reference/index.md"] = "\n".join(index) + "\n"
    return out


def on_files(files: Files, config: Any) -> Files:
    for path, content in pages().items():
        files.append(File.generated(config, path, content=content))
    return files


def on_config(config: Any) -> Any:
    nav = config["nav"]
    reference: list[dict[str, str]] = [{"Overview": "reference/index.md"}]
    for path, content in pages().items():
        if path != "reference/index.md":
            reference.append({content.splitlines()[0].removeprefix("# "): path})
    nav.append({"API reference": reference})
    return config
