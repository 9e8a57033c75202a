"""Workflow configs: pydantic models read from and written to commented YAML.

Every workflow has one pydantic schema (``extra="forbid"``, a description and bounds on every
field). The same schema writes the commented default YAML (``fringenet config NAME``) and
validates a user's file, so the two never disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from fringenet.errors import InputError

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a YAML config file (for callers that merge overrides before validating)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "config file not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise InputError(path, f"not valid YAML ({err})") from err
    if not isinstance(raw, dict):
        raise InputError(path, "a config must be a mapping of field: value")
    return raw


def load_yaml_config(model: type[ModelT], path: str | Path) -> ModelT:
    """Read and validate a YAML config file; errors name the file and the offending fields."""
    return validate_config(model, read_yaml_mapping(path), source=path)


def validate_config(model: type[ModelT], values: dict[str, Any], source: str | Path = "config") -> ModelT:
    """Validate a mapping against a config schema, turning pydantic errors into one InputError."""
    try:
        return model.model_validate(values)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in err.errors()
        )
        raise InputError(source, f"invalid {model.__name__}: {problems}") from err


def to_commented_yaml(config: BaseModel) -> str:
    """YAML of a config with each field's description as a comment above it."""
    lines = [f"# {type(config).__name__} (fringenet)"]
    _append_fields(config, lines, indent="")
    return "\n".join(lines) + "\n"


def _append_fields(config: BaseModel, lines: list[str], indent: str) -> None:
    fields = type(config).model_fields
    for name, field in fields.items():
        value = getattr(config, name)
        if field.description:
            lines.append(f"{indent}# {field.description}")
        if isinstance(value, BaseModel):
            lines.append(f"{indent}{name}:")
            _append_fields(value, lines, indent + "  ")
            continue
        dumped = yaml.safe_dump(_plain(value), default_flow_style=True, width=10_000).strip()
        dumped = dumped.removesuffix("...").strip()  # PyYAML ends a bare scalar document with "..."
        lines.append(f"{indent}{name}: {dumped}")


def _plain(value: Any) -> Any:
    """A value YAML can write (tuples as lists, paths and enums as strings)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "value") and not isinstance(value, int | float | str):
        return value.value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def write_yaml_config(config: BaseModel, path: str | Path) -> Path:
    """Write a config as commented YAML (atomically)."""
    from fringenet.io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(to_commented_yaml(config))
    return path
