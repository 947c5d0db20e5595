"""Read infra/terraform as data, and build function archives the way Terraform's archive_file does.

HCL expressions stay strings (python-hcl2 does not evaluate them); the helpers here resolve the
few shapes our configuration uses: literal maps, `merge(...)` of literal maps and locals, and
integer arithmetic over locals.
"""

from __future__ import annotations

import ast
import os
import re
import zipfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM_DIR = ROOT / "infra" / "terraform"
_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
_LOCAL_REF = re.compile(r"\blocal\.([a-z_][a-z0-9_]*)\b")
_ENV_KEY = re.compile(r"\b([A-Z][A-Z0-9_]+)\s*=")
_QUOTED_NAME = re.compile(r'"([A-Z][A-Z0-9_]+)"')
_QUOTED = re.compile(r'"([^"]*)"')

Block = dict[str, Any]


def tf_files() -> list[Path]:
    return sorted(TERRAFORM_DIR.glob("*.tf"))


def parse(path: Path) -> Block:
    with path.open() as handle:
        parsed: Block = hcl2.load(handle, serialization_options=_OPTIONS)
    return parsed


@cache
def configuration() -> Block:
    """Every top-level block of every .tf file, grouped by kind (resource, data, locals, ...)."""
    merged: dict[str, list[Any]] = {}
    for path in tf_files():
        for kind, blocks in parse(path).items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


def _labelled(kind: str, type_name: str) -> dict[str, Block]:
    found: dict[str, Block] = {}
    for block in configuration().get(kind, []):
        found.update(block.get(type_name, {}))
    return found


def resources(type_name: str) -> dict[str, Block]:
    return _labelled("resource", type_name)


def data_sources(type_name: str) -> dict[str, Block]:
    return _labelled("data", type_name)


def all_resources() -> Iterator[tuple[str, str, Block]]:
    for block in configuration().get("resource", []):
        for type_name, named in block.items():
            for name, body in named.items():
                yield type_name, name, body


def variables() -> dict[str, Block]:
    found: dict[str, Block] = {}
    for block in configuration().get("variable", []):
        found.update(block)
    return found


def locals_() -> Block:
    found: Block = {}
    for block in configuration().get("locals", []):
        found.update({k: v for k, v in block.items() if k != "__comments__"})
    return found


def timeout_range(function: str) -> tuple[int, int]:
    """The timeouts a function's runtime variable accepts (functions.tf, checked by
    modules/function_runtime)."""
    timeouts = locals_()["function_timeouts"][function]
    return timeouts["min_timeout"], timeouts["max_timeout"]


def single(block: Block, name: str) -> Block:
    """A nested block that occurs once (python-hcl2 gives nested blocks as lists)."""
    nested = block[name]
    assert isinstance(nested, list) and len(nested) == 1, f"{name} should occur once"
    inner: Block = nested[0]
    return inner


def map_keys(value: Any) -> set[str]:
    """Keys of a map: a literal, or an expression built from literals and `local.*` maps."""
    if isinstance(value, dict):
        return {k for k in value if k != "__comments__"}
    assert isinstance(value, str), value
    keys = set(_ENV_KEY.findall(value))
    for ref in _LOCAL_REF.findall(value):
        referenced = locals_()[ref]
        if isinstance(referenced, dict) or str(referenced).startswith("${merge("):
            keys |= map_keys(referenced)
    return keys


def quoted_names(expression: str) -> set[str]:
    """Upper-case names quoted in an expression, e.g. the members of toset([...])."""
    return set(_QUOTED_NAME.findall(expression))


def quoted_strings(expression: str) -> set[str]:
    """Every string literal in an expression, e.g. the members of toset([...])."""
    return set(_QUOTED.findall(expression))


def local_number(name: str) -> int:
    """Evaluate an integer local built from literals, other locals, + and -."""
    value = locals_()[name]
    if isinstance(value, int):
        return value
    inner = value.removeprefix("${").removesuffix("}")
    expression = _LOCAL_REF.sub(lambda m: str(local_number(m.group(1))), inner)
    return _arithmetic(ast.parse(expression, mode="eval").body)


def _arithmetic(node: ast.expr) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        left, right = _arithmetic(node.left), _arithmetic(node.right)
        return left + right if isinstance(node.op, ast.Add) else left - right
    raise ValueError(f"not simple integer arithmetic: {ast.dump(node)}")


def module_path(expression: str) -> Path:
    """A path written as "${path.module}/..." resolved against infra/terraform."""
    return (TERRAFORM_DIR / expression.replace("${path.module}/", "", 1)).resolve()


def _doublestar_regex(pattern: str) -> re.Pattern[str]:
    """The subset of doublestar globs used in `excludes`: **/, /**, ** , * and ?."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out, i = out + "(?:/.*)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def build_archive(source_dir: Path, excludes: list[str], file_mode: str, output: Path) -> Path:
    """Zip source_dir as archive_file does: follow symlinked directories, drop excluded paths
    (a directory that matches is skipped whole), store paths relative to source_dir."""
    patterns = [_doublestar_regex(p) for p in excludes]
    mode = int(file_mode, 8)

    def excluded(relative: str) -> bool:
        return any(p.match(relative) for p in patterns)

    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for directory, subdirs, files in os.walk(source_dir, followlinks=True):
            base = Path(directory).relative_to(source_dir)
            subdirs[:] = sorted(d for d in subdirs if not excluded((base / d).as_posix()))
            for name in sorted(files):
                relative = (base / name).as_posix()
                if excluded(relative):
                    continue
                info = zipfile.ZipInfo(relative, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, (Path(directory) / name).read_bytes())
    return output
