"""Safe YAML loading that remembers where every value stood.

PyYAML's composer gives each node its position; we walk the node tree beside the
constructed data and keep a map from key path to line, so validation can name the line
of the offending value (or key) without injecting marker keys into the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hybridports.errors import UserError
from hybridports.files import read_input

Path_ = tuple[str | int, ...]

# libyaml's parser (bundled with PyYAML's wheels) is about five times faster; same marks.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class YamlDoc:
    """Parsed YAML data with the 1-based line of each value and each mapping key."""

    data: Any
    file: str
    value_lines: dict[Path_, int] = field(default_factory=dict)
    key_lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_, *, key: bool = False) -> int | None:
        """Line of the value at ``path`` (of its key with ``key=True``); nearest ancestor else."""
        lines = self.key_lines if key else self.value_lines
        probe = tuple(path)
        while probe:
            if probe in lines:
                return lines[probe]
            probe = probe[:-1]
        return self.value_lines.get((), 1)

    def error(self, path: Path_, message: str, *, key: bool = False) -> UserError:
        return UserError(message, file=self.file, line=self.line(path, key=key))


def read_yaml(path: str | Path, *, what: str = "file") -> YamlDoc:
    """Read and parse a YAML file; every failure is a UserError naming the file."""
    name = str(path)
    raw = read_input(path, what)
    if b"\x00" in raw:
        raise UserError(f"binary data, not a YAML {what}", file=name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserError("not UTF-8 text", file=name, line=line) from None
    return parse_yaml(text, name, what=what)


def parse_yaml(text: str, file: str, *, what: str = "file") -> YamlDoc:
    if not text.strip():
        raise UserError(f"empty {what}", file=file)
    loader: yaml.SafeLoader | None = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            raise UserError(f"empty {what}", file=file)
        doc = YamlDoc(data=None, file=file)
        _walk(loader, node, (), doc)
        data = loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise UserError(
            f"YAML syntax error: unacceptable character #x{exc.character:04x}", file=file, line=line
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        mark_line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise UserError(f"YAML syntax error: {problem}", file=file, line=mark_line) from None
    except yaml.YAMLError as exc:
        raise UserError(f"YAML error: {' '.join(str(exc).split())}", file=file) from None
    except RecursionError:
        raise UserError("YAML nested too deeply", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDoc(data=data, file=file, value_lines=doc.value_lines, key_lines=doc.key_lines)


def _walk(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, doc: YamlDoc) -> None:
    doc.value_lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | bool | float) or key is None:
                raise UserError(f"unsupported mapping key {key!r}", file=doc.file, line=line)
            if key in seen:
                raise UserError(
                    f"duplicate key {key!r} (first at line {seen[key]})", file=doc.file, line=line
                )
            seen[key] = line
            child = (*path, str(key))
            doc.key_lines[child] = line
            _walk(loader, value_node, child, doc)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(loader, item, (*path, index), doc)
