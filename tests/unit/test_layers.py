"""app/'s folders are its layers, and imports point down: each package's allowed imports, pinned.

Read from the source with ast (every import, inside functions and TYPE_CHECKING blocks too),
so that a new import line across a layer fails here rather than blurring the architecture.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"

# The layers, top to bottom. A module may import its own layer and those listed for it.
BASE = {"app.model", "app.record", "app.errors", "app.naming", "app.events", "app.digest"}
ALLOWED = {
    # value objects, the exception tree, key templates, event shapes, SHA-256: used by all above
    "base": {"base"},
    # pure pixel work: nothing of S3, configuration or one object's bookkeeping
    "app.image": {"app.image", "base"},
    # the AWS edges: nothing of pixels or configuration
    "app.aws": {"app.aws", "base"},
    # the declared configuration: the image vocabulary it checks, nothing of the work reading it
    "app.config": {"app.config", "app.image", "base"},
    # one object's work: everything below it, nothing of the entry points
    "app.renditions": {"app.renditions", "app.image", "app.aws", "app.config", "base"},
}
# Third-party packages a layer must never import.
FORBIDDEN_SDKS = {
    "app.image": {"boto3", "botocore", "mypy_boto3_s3", "aws_lambda_powertools"},
    "app.aws": {"pyvips", "pillow_heif"},
    "app.config": {"boto3", "botocore", "pyvips"},
    "base": {"boto3", "botocore", "pyvips", "pillow_heif"},
}
ENTRY = {"app.handler", "app.__main__"}
TOP_LIMIT = 12


def _name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str | None:
    if module in BASE:
        return "base"
    for package in ALLOWED:
        if module == package or module.startswith(package + "."):
            return package
    return None


def _imports(path: Path) -> set[str]:
    """Every module an import statement in `path` names (`from app import x` names app.x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import; app/ imports absolutely"
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _app_modules(imported: set[str]) -> set[str]:
    """The app modules among `imported` (a name imported from a module is dropped)."""
    modules = {_name(p) for p in APP.rglob("*.py")}
    return {name for name in imported if name in modules and name != "app"}


MODULES = sorted(APP.rglob("*.py"))


def _crossings(module: str, imported: set[str]) -> set[str]:
    """The app modules and SDKs among `imported` that `module`'s layer may not import."""
    layer = _layer(module)
    wrong = {
        name
        for name in _app_modules(imported)
        if name in ENTRY or (layer is not None and (_layer(name) or "top") not in ALLOWED[layer])
    }
    sdks = {name.split(".")[0] for name in imported} & FORBIDDEN_SDKS.get(layer or "", set())
    return wrong | sdks


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(APP.parent)))
def test_every_import_points_down(path: Path) -> None:
    module = _name(path)
    wrong = _crossings(module, _imports(path))
    assert not wrong, (
        f"{module} ({_layer(module) or 'top'}) imports {sorted(wrong)} across its layer"
    )


def test_every_module_has_a_layer_or_is_an_entry_point_at_the_top() -> None:
    top = sorted(p.name for p in APP.glob("*.py"))
    assert len(top) <= TOP_LIMIT, f"app/ holds {len(top)} modules at its top: {top}"
    packages = {p.name for p in APP.iterdir() if (p / "__init__.py").is_file()}
    assert {f"app.{name}" for name in packages} == set(ALLOWED) - {"base"}


def test_the_checker_sees_a_crossing_import_even_inside_a_function(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from app.aws import storage\n    import botocore.config\n")
    imported = _imports(probe)
    assert _crossings("app.image.fit", imported) == {"app.aws", "app.aws.storage", "botocore"}
    assert _crossings("app.renditions.copies", imported) == set()
    assert _crossings("app.config.settings", {"app.handler"}) == {"app.handler"}
