"""The public boundary between fpsolve and validation: validation uses public fpsolve names only."""

import ast
from pathlib import Path

import pytest

VALIDATION = Path(__file__).resolve().parent.parent / "validation"


def _private(dotted: str) -> str | None:
    """The first private part (leading underscore, not a dunder) of a dotted name."""
    for part in dotted.split("."):
        if part.startswith("_") and not (part.startswith("__") and part.endswith("__")):
            return part
    return None


def _dotted(node: ast.AST) -> list[str] | None:
    """``["a", "b", "c"]`` for the expression ``a.b.c`` (None for anything else)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _fpsolve_uses(tree: ast.AST):
    """``(line, dotted name)`` of every fpsolve module or name the tree imports or reaches."""
    aliases = {}  # local name -> the fpsolve module or name it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "fpsolve":
                    yield node.lineno, a.name
                    aliases[a.asname or "fpsolve"] = a.name if a.asname else "fpsolve"
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "fpsolve"
        ):
            yield node.lineno, node.module
            for a in node.names:
                yield node.lineno, f"{node.module}.{a.name}"
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):  # attributes reached through them: dbm._chunks, fpsolve.dbm._x
        if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Del):
            parts = _dotted(node)
            if parts and parts[0] in aliases:
                yield node.lineno, ".".join([aliases[parts[0]], *parts[1:]])


def _violations(root: Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, name in _fpsolve_uses(tree):
            part = _private(name)
            if part is not None:
                out.append(f"{path.relative_to(root.parent)}:{line}: {name} (private {part!r})")
    return sorted(set(out))


def test_validation_imports_only_public_fpsolve_names():
    bad = _violations(VALIDATION)
    assert not bad, "validation uses private fpsolve names:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from fpsolve._dbm_kernels import _pcd_coupling", True),
        ("from fpsolve.models import _noise", True),
        ("from fpsolve.models import rbm_drift", False),
        ("import fpsolve.dbm._kernels as k", True),
        ("from fpsolve import dbm\ndbm._chunks(3)", True),
        ("from fpsolve import dbm\ndbm.simulate", False),
        ("import fpsolve.dbm\nfpsolve.dbm._kernels.em_chunk", True),
        ("import fpsolve\nfpsolve.__version__", False),
        ("from validation.analyses import _x", False),
    ],
)
def test_the_check_finds_private_names(tmp_path, source, found):
    """The check itself: private modules, names and attributes of fpsolve are caught."""
    pkg = tmp_path / "validation"
    pkg.mkdir()
    (pkg / "mod.py").write_text(source + "\n")
    bad = _violations(pkg)
    assert bool(bad) is found, bad
    if found:
        assert bad[0].startswith("validation/mod.py:")
