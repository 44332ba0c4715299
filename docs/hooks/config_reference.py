"""mkdocs hook: the configuration reference, generated from the workflow's JSON schemas.

A line ``<!-- schema-reference: PATH -->`` in a page (PATH relative to the repository root, e.g.
``workflow/schemas/config.schema.yaml``) is replaced at build time by markdown tables of every
key of that schema: type and allowed values, whether it is required, its description, and, for
the workflow config, its value in ``config/config.yaml`` (the embedded default) and in
``config/paper.yaml``. The page therefore cannot drift from the schemas the workflow validates
against. Any problem (no placeholder on ``configuration.md``, a missing file, an unresolvable
``$ref``) fails the build.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from mkdocs.exceptions import PluginError

PLACEHOLDER = re.compile(r"^<!--\s*schema-reference:\s*(?P<path>\S+)\s*-->[ \t]*$", re.MULTILINE)
REFERENCE_PAGE = "configuration.md"
CONFIG_SCHEMA = "config.schema.yaml"
VALUE_FILES = {"default": "config/config.yaml", "paper": "config/paper.yaml"}


def on_page_markdown(markdown: str, page, config, files) -> str:
    root = Path(config.config_file_path).resolve().parent
    rendered, count = PLACEHOLDER.subn(lambda m: render_schema(root, m.group("path")), markdown)
    if page.file.src_uri == REFERENCE_PAGE and count == 0:
        raise PluginError(f"{REFERENCE_PAGE} has no '<!-- schema-reference: PATH -->' line for the hook to fill")
    return rendered


# ---------------------------------------------------------------------------------------------
# reading


def _load_yaml(path: Path) -> Any:
    if not path.is_file():
        raise PluginError(f"schema reference: {path} does not exist")
    with path.open() as handle:
        return yaml.safe_load(handle)


def _resolve(node: dict, root: dict) -> dict:
    """Inline a local ``$ref`` (``#/$defs/x`` or ``#/definitions/x``); sibling keys win."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise PluginError(f"schema reference: cannot resolve $ref {ref!r}")
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise PluginError(f"schema reference: $ref {ref!r} points nowhere")
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _lookup(values: Any, dotted: str) -> tuple[bool, Any]:
    for part in dotted.split("."):
        if not isinstance(values, dict) or part not in values:
            return False, None
        values = values[part]
    return True, values


# ---------------------------------------------------------------------------------------------
# rendering


def _code(value: str) -> str:
    value = str(value)
    fence = "``" if "`" in value else "`"
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"  # Python-Markdown's tables do not split inside code spans


def _text(text: str) -> str:
    """Schema prose as one table cell: code spans kept, markdown and HTML specials escaped."""
    text = " ".join(str(text).split())
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(part)
        else:
            part = part.replace("\\", "\\\\")
            for char in "*_[]|":
                part = part.replace(char, "\\" + char)
            out.append(part.replace("<", "&lt;").replace(">", "&gt;"))
    return "".join(out)


def _yaml_value(value: Any) -> str:
    dumped = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip()
    if dumped.endswith("\n..."):
        dumped = dumped[: -len("\n...")]
    if dumped.endswith("..."):
        dumped = dumped[:-3].strip()
    return _code(dumped)


def _bounds(node: dict) -> list[str]:
    out = []
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if key in node:
            out.append(f"{sign} {node[key]}")
    return out


def _type(node: dict, root: dict) -> str:
    """One line saying what a value may be."""
    node = _resolve(node, root)
    if "const" in node:
        return _code(node["const"])
    if "enum" in node:
        return "one of " + ", ".join(_code("null" if v is None else v) for v in node["enum"])
    for combinator in ("anyOf", "oneOf"):
        if combinator in node:
            return " or ".join(_type(option, root) for option in node[combinator])
    types = node.get("type")
    types = types if isinstance(types, list) else [types] if types else []
    details = _bounds(node)
    if "pattern" in node:
        details.append(f"matching {_code(node['pattern'])}")
    words = []
    for kind in types:
        if kind == "array":
            items = node.get("items")
            if isinstance(items, list):  # tuple validation
                items = "(" + ", ".join(_type(item, root) for item in items) + ")"
            else:
                items = _type(items, root) if items else "values"
            if "minItems" in node and node.get("minItems") == node.get("maxItems"):
                size = f" ({node['minItems']} items)"
            elif "minItems" in node or "maxItems" in node:
                bounds = [f"≥ {node['minItems']}" if "minItems" in node else "",
                          f"≤ {node['maxItems']}" if "maxItems" in node else ""]
                size = " (" + ", ".join(b for b in bounds if b) + " items)"
            else:
                size = ""
            unique = ", unique" if node.get("uniqueItems") else ""
            words.append(f"list{size} of {items}{unique}")
        elif kind == "object":
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                names = node.get("propertyNames", {}).get("pattern")
                key = f"name ({_code(names)})" if names else "name"
                words.append(f"mapping {key} → {_type(extra, root)}")
            elif "properties" in node:
                words.append("mapping (keys below)")
            elif extra is False:
                words.append("mapping (no keys)")
            else:
                words.append("mapping")
        elif kind == "null":
            words.append("null")
        elif kind is not None:
            words.append(" ".join([str(kind), ", ".join(details)]).strip())
    return " or ".join(words) if words else "any"


def _rows(node: dict, root: dict, prefix: str, required: bool, values: dict[str, Any]) -> list[list[str]]:
    """Table rows for ``node`` (named ``prefix``) and every key below it."""
    node = _resolve(node, root)
    rows = []
    row = [_code(prefix), _type(node, root) + ("" if required else " (optional)")]
    for data in values.values():
        found, value = _lookup(data, prefix)
        row.append(_yaml_value(value) if found and (not isinstance(value, dict) or value == {}) else "")
    description = _text(node.get("description", ""))
    if "default" in node:  # a schema-level default, where the schema states one
        if description and not description.endswith((".", "!", "?")):
            description += "."
        description = f"{description} Schema default: {_yaml_value(node['default'])}.".strip()
    row.append(description)
    rows.append(row)
    needed = set(node.get("required", []))
    for key, child in node.get("properties", {}).items():
        rows.extend(_rows(child, root, f"{prefix}.{key}", key in needed, values))
    return rows


def _table(rows: list[list[str]], value_columns: list[str]) -> str:
    header = ["key", "type, allowed values", *value_columns, "description"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _conditions(schema: dict) -> list[str]:
    """``allOf: [{if: {properties: {k: {const: v}}}, then: {required: [...]}}]`` as sentences."""
    out = []
    for rule in schema.get("allOf", []):
        condition = rule.get("if", {}).get("properties", {})
        then = rule.get("then", {}).get("required", [])
        if len(condition) == 1 and then:
            (key, test), = condition.items()
            if "const" in test:
                needs = ", ".join(_code(k) for k in then)
                condition_text = _code(f"{key}: {test['const']}")
                out.append(f"- {condition_text} requires {needs}.")
    return out


def render_schema(root_dir: Path, relative: str) -> str:
    path = root_dir / relative
    schema = _load_yaml(path)
    if not isinstance(schema, dict) or "properties" not in schema:
        raise PluginError(f"schema reference: {relative} has no top-level properties")
    values: dict[str, Any] = {}
    if path.name == CONFIG_SCHEMA:
        values = {name: _load_yaml(root_dir / file) or {} for name, file in VALUE_FILES.items()}
    columns = list(values)
    needed = set(schema.get("required", []))
    out = [f"*Generated from `{relative}` when this site was built.*"]
    if values:
        files = "; ".join(f"*{name}* = the value in `{file}`" for name, file in VALUE_FILES.items())
        out.append(f"Columns {files} (blank: not set there).")
    out.append("")
    if schema.get("description"):
        out += [_text(schema["description"]), ""]

    simple, sections = [], []
    for key, child in schema["properties"].items():
        (sections if "properties" in _resolve(child, schema) else simple).append((key, child))
    if simple and sections:
        out += ["### Top-level keys", ""]
    if simple:
        rows = [row for key, child in simple for row in _rows(child, schema, key, key in needed, values)]
        out += [_table(rows, columns), ""]
    for key, child in sections:
        resolved = _resolve(child, schema)
        out += [f"### `{key}`", ""]
        if resolved.get("description"):
            out += [_text(resolved["description"]), ""]
        rows = [row for name, grandchild in resolved["properties"].items()
                for row in _rows(grandchild, schema, f"{key}.{name}", name in set(resolved.get("required", [])),
                                 values)]
        out += [_table(rows, columns), ""]
    conditions = _conditions(schema)
    if conditions:
        out += ["Conditional requirements:", "", *conditions, ""]
    return "\n".join(out)
