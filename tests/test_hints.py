"""Hints name what exists: every ``--flag`` a command-line hint names is an option of
``run.py`` (or of ``install_models.sh`` right after its name), face-neutral hints name no
flag and no ``run.py``, window hints name no flag, and the menus, tabs and labels window
hints quote are strings of the window's source (``tests/ui/test_error_dialog.py`` checks
them against the built window).

The hints are read from the package source with ``ast``: every ``hint=`` argument and
every ``Hint(...)``, following module-level constants (``INSTALL_HINT``), names imported
from other modules of the package, and functions of the package that return hints. A hint
built from something the walk cannot follow fails the walk, so a new kind of hint cannot
slip past these checks.
"""

from __future__ import annotations

import argparse
import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import sam3roto
from sam3roto.cli import build_parser
from sam3roto.errors import RUN_DEPTH_HINT, WINDOW_INSTALL, Hint, ModelNotInstalledError, Sam3RotoError

PACKAGE = Path(sam3roto.__file__).resolve().parent
INSTALL_SCRIPT = PACKAGE.parent / "install_models.sh"
FLAG = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
SCRIPT_CALL = re.compile(r"install_models\.sh((?:\s+--[a-z][\w-]*(?:\s+[A-Z_]+)?)*)")
DYNAMIC = "{}"  # stands for an f-string's replacement fields


@dataclass
class Hints:
    """Hint texts found in the source, by face, each with where it was found."""

    plain: list[tuple[str, str]] = field(default_factory=list)
    cli: list[tuple[str, str]] = field(default_factory=list)
    window: list[tuple[str, str]] = field(default_factory=list)
    sites: int = 0  # hint= arguments and Hint(...) calls walked
    problems: list[str] = field(default_factory=list)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


class _Package:
    """The package's modules, their module-level names and what they import."""

    def __init__(self) -> None:
        self.trees: dict[str, ast.Module] = {}
        self.paths: dict[str, Path] = {}
        for path in sorted(PACKAGE.rglob("*.py")):
            name = _module_name(path)
            self.trees[name] = ast.parse(path.read_text(encoding="utf-8"), str(path))
            self.paths[name] = path
        self.symbols: dict[tuple[str, str], ast.AST] = {}
        self.imports: dict[tuple[str, str], tuple[str, str]] = {}
        for module, tree in self.trees.items():
            for node in tree.body:
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            self.symbols[(module, target.id)] = node.value
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                    self.symbols[(module, node.target.id)] = node.value
                elif isinstance(node, ast.FunctionDef):
                    self.symbols[(module, node.name)] = node
                elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sam3roto"):
                    for alias in node.names:
                        self.imports[(module, alias.asname or alias.name)] = (node.module, alias.name)

    def resolve(self, module: str, name: str) -> tuple[str, ast.AST] | None:
        seen = set()
        while (module, name) in self.imports and (module, name) not in seen:
            seen.add((module, name))
            module, name = self.imports[(module, name)]
        node = self.symbols.get((module, name))
        return (module, node) if node is not None else None


def _is_hint_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "Hint") or (isinstance(func, ast.Attribute)
                                                                 and func.attr == "Hint")


def _parameters(func: ast.FunctionDef | ast.Lambda) -> set[str]:
    a = func.args
    names = [*a.posonlyargs, *a.args, *a.kwonlyargs, *([a.vararg] if a.vararg else []),
             *([a.kwarg] if a.kwarg else [])]
    return {n.arg for n in names}


class _Walker:
    def __init__(self, package: _Package) -> None:
        self.package = package
        self.hints = Hints()

    def _text(self, node: ast.JoinedStr) -> str:
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            else:
                parts.append(DYNAMIC)
        return "".join(parts)

    def _add(self, text: str, face: str | None, where: str) -> None:
        if face == "cli":
            self.hints.cli.append((text, where))
        elif face == "window":
            self.hints.window.append((text, where))
        else:
            self.hints.plain.append((text, where))

    def collect(self, module: str, node: ast.AST, face: str | None, where: str, params: set[str],
                seen: frozenset[tuple[str, str]] = frozenset()) -> None:
        """Every piece of text ``node`` can contribute to a hint, by face."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                self._add(node.value, face, where)
            elif node.value is not None:
                self.hints.problems.append(f"{where}: a hint that is not text ({node.value!r})")
        elif isinstance(node, ast.JoinedStr):
            self._add(self._text(node), face, where)
        elif _is_hint_call(node):
            assert isinstance(node, ast.Call)
            self.hints.sites += 1
            for arg, kind in zip(node.args, ("cli", "window"), strict=False):
                self.collect(module, arg, kind, where, params, seen)
            for kw in node.keywords:
                if kw.arg not in ("cli", "window"):
                    self.hints.problems.append(f"{where}: Hint() takes cli= and window=, got {kw.arg}=")
                    continue
                self.collect(module, kw.value, kw.arg, where, params, seen)
        elif isinstance(node, ast.Name):
            if node.id in params:
                return  # a parameter passed through: its value is walked where it is given
            found = self.package.resolve(module, node.id)
            if found is None or (found[0], node.id) in seen:
                self.hints.problems.append(f"{where}: cannot follow the name {node.id!r} in a hint")
                return
            target_module, target = found
            if isinstance(target, ast.FunctionDef):
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Return) and sub.value is not None:
                        self.collect(target_module, sub.value, face, where, _parameters(target),
                                     seen | {(target_module, node.id)})
            else:
                self.collect(target_module, target, face, where, set(), seen | {(target_module, node.id)})
        elif isinstance(node, ast.IfExp):
            # either branch can be the hint; the condition is not hint text
            self.collect(module, node.body, face, where, params, seen)
            self.collect(module, node.orelse, face, where, params, seen)
        elif isinstance(node, ast.Call):
            # a function of the package returning a hint (its returns are walked, its
            # arguments are its parameters), or a method on a hint or text (.replace, .join):
            # the arguments' text is walked, names of run-time values are not
            if isinstance(node.func, ast.Name):
                self.collect(module, node.func, face, where, params, seen)
                return
            target = self._module_function(module, node.func)
            if target is not None:
                # limits.raise_hint(...): a function of another module of the package
                for sub in ast.walk(target[1]):
                    if isinstance(sub, ast.Return) and sub.value is not None:
                        self.collect(target[0], sub.value, face, where, _parameters(target[1]), seen)
                return
            if isinstance(node.func, ast.Attribute):
                self.collect(module, node.func.value, face, where, params, seen)
            for arg in [*node.args, *(kw.value for kw in node.keywords)]:
                if isinstance(arg, ast.Name) and self.package.resolve(module, arg.id) is None:
                    continue
                self.collect(module, arg, face, where, params, seen)
        elif isinstance(node, ast.Attribute):
            pass  # a value computed at run time (spec.repo_id): it names no flag in the source
        elif isinstance(node, ast.Lambda):
            self.collect(module, node.body, face, where, params | _parameters(node), seen)
        else:
            for child in ast.iter_child_nodes(node):
                self.collect(module, child, face, where, params, seen)


    def _module_function(self, module: str, func: ast.expr) -> tuple[str, ast.FunctionDef] | None:
        """``(module, def)`` when ``func`` is ``mod.name`` for a module of the package imported
        as ``mod`` (``from sam3roto.core import limits``) and ``name`` is a function there."""
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            return None
        imported = self.package.imports.get((module, func.value.id))
        if imported is None:
            return None
        target_module = f"{imported[0]}.{imported[1]}"
        node = self.package.symbols.get((target_module, func.attr))
        return (target_module, node) if isinstance(node, ast.FunctionDef) else None


def _enclosing_params(tree: ast.Module) -> dict[int, set[str]]:
    """id(node) -> the parameters of the functions around it."""
    out: dict[int, set[str]] = {}

    def visit(node: ast.AST, params: set[str]) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            params = params | _parameters(node)
        out[id(node)] = params
        for child in ast.iter_child_nodes(node):
            visit(child, params)

    visit(tree, set())
    return out


def collect_hints() -> Hints:
    """Every hint text in the package source, by face."""
    package = _Package()
    walker = _Walker(package)
    for module, tree in package.trees.items():
        params = _enclosing_params(tree)
        rel = package.paths[module].relative_to(PACKAGE.parent)
        for node in ast.walk(tree):
            where = f"{rel}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "hint":
                        walker.hints.sites += 1
                        walker.collect(module, kw.value, None, where, params[id(node)])
                if _is_hint_call(node):
                    # Hint(...) anywhere (module constants, helper functions), walked on its own
                    # too, so that a hint not (yet) passed as hint= is checked as well
                    walker.collect(module, node, None, where, params[id(node)])
    return walker.hints


def parser_flags() -> set[str]:
    """Every option string of ``run.py`` and its subcommands."""
    flags: set[str] = set()

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            flags.update(s for s in action.option_strings if s.startswith("--"))
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(build_parser())
    return flags


def script_flags() -> set[str]:
    """The options ``install_models.sh`` accepts (its ``case`` arms)."""
    text = INSTALL_SCRIPT.read_text(encoding="utf-8")
    return set(re.findall(r"^\s*(?:-\w\|)?(--[a-z][\w-]*)\)", text, re.MULTILINE))


def flags_of(text: str) -> tuple[set[str], set[str]]:
    """``(run.py flags, install_models.sh flags)`` that ``text`` names."""
    script = {flag for m in SCRIPT_CALL.finditer(text) for flag in FLAG.findall(m.group(1))}
    return set(FLAG.findall(SCRIPT_CALL.sub("install_models.sh", text))), script


@pytest.fixture(scope="module")
def hints() -> Hints:
    return collect_hints()


def test_the_walk_follows_every_hint(hints: Hints) -> None:
    assert hints.problems == []
    assert hints.sites > 40  # the package raises ~50 errors with hints; a walk finding few is broken
    cli = " ".join(t for t, _ in hints.cli)
    # the hints this issue fixed are among those found
    for expected in ("--sam3-dir", "--depth-dir", "--preset", "--device", "--ply-min-confidence", "run.py depth"):
        assert expected in cli
    assert any(WINDOW_INSTALL in t for t, _ in hints.window)


def test_every_flag_a_hint_names_exists(hints: Hints) -> None:
    known, script = parser_flags(), script_flags()
    assert {"--sam3-id", "--da3-id"} <= script
    wrong = []
    for text, where in hints.cli + hints.plain:
        ours, theirs = flags_of(text)
        wrong += [f"{where}: {flag} (run.py has no such option)" for flag in sorted(ours - known)]
        wrong += [f"{where}: {flag} (install_models.sh has no such option)" for flag in sorted(theirs - script)]
    assert wrong == []


def test_plain_hints_name_no_flag_and_no_command(hints: Hints) -> None:
    bad = [f"{where}: {text!r}" for text, where in hints.plain if FLAG.search(text) or "run.py" in text]
    assert bad == []


def test_window_hints_name_no_flag(hints: Hints) -> None:
    bad = [f"{where}: {text!r}" for text, where in hints.window if FLAG.search(text)]
    assert bad == []


def ui_strings() -> set[str]:
    """Every string constant of the window's source, ``&`` accelerators removed (the Export
    tab's labels come from the render table it shares with the command line)."""
    out: set[str] = set()
    for path in [*(PACKAGE / "ui").glob("*.py"), PACKAGE / "pipeline" / "render_table.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.add(node.value.replace("&", ""))
    return out


def ui_constant(module: str, name: str) -> str:
    """A module-level string constant of ``sam3roto/ui/MODULE.py``, read without Qt."""
    tree = ast.parse((PACKAGE / "ui" / f"{module}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise AssertionError(f"sam3roto/ui/{module}.py has no constant {name}")


def window_names(text: str) -> list[str]:
    """The controls a window hint names: quoted labels, both sides of each ``A > B`` menu
    step (one word, or a quoted label), and ``the NAME tab``."""
    names = [q for q in re.findall(r'"([^"]+)"', text) if DYNAMIC not in q]
    for m in re.finditer(r'(?<!\S)(?=(\S+) > ("[^"]+"|\S+))', text):
        names += [m.group(1).strip('"'), m.group(2).strip('"').rstrip(",;")]
    names += re.findall(r"the ([A-Z][\w]*(?: / \w+)*) tab\b", text)
    return names


def test_window_hints_name_controls_the_window_has(hints: Hints) -> None:
    strings = ui_strings()
    bad = [f"{where}: {name!r} in {text!r}" for text, where in hints.window for name in window_names(text)
           if name not in strings]
    assert bad == []


def test_window_hints_quote_the_settings_labels() -> None:
    install, device = ui_constant("settings", "INSTALL_LABEL"), ui_constant("settings", "DEVICE_LABEL")
    assert f'"{install}"' in WINDOW_INSTALL
    assert "Edit > Settings..." in WINDOW_INSTALL
    from sam3roto.backends import da3, sam3
    from sam3roto.backends.device import USE_CPU_HINT

    for hint in (sam3.INSTALL_HINT, da3.INSTALL_HINT):
        assert f'"{install}"' in hint.window
    assert f'"{device}"' in USE_CPU_HINT.window
    assert '"Weights"' in da3.INSTALL_HINT.window and "Weights" in ui_strings()


def test_window_names_are_checked() -> None:
    """The checks above fail on a hint naming a flag, a menu or a label that does not exist."""
    assert flags_of("use --no-such-flag") == ({"--no-such-flag"}, set())
    assert flags_of("run ./install_models.sh --sam3-id ID, or pass --sam3-dir DIR") == ({"--sam3-dir"},
                                                                                        {"--sam3-id"})
    assert "--no-such-flag" not in parser_flags() and "--sam3-dir" in parser_flags()
    names = window_names('open Edit > Preferences... and press "Reinstall" in the Models tab')
    assert names == ["Reinstall", "Edit", "Preferences...", "Models"]
    assert not set(names) & ui_strings() - {"Edit"}


def test_a_hint_has_one_wording_per_face() -> None:
    hint = Hint(cli="pass --depth-dir DIR", window='choose a folder in "Weights"')
    err = ModelNotInstalledError("no weights", path="/w", hint="the files are incomplete; " + hint)
    assert str(err) == "/w: no weights (the files are incomplete; pass --depth-dir DIR)"
    assert err.headline == "/w: no weights"
    assert err.hint_for("cli") == "the files are incomplete; pass --depth-dir DIR"
    assert err.hint_for("window") == 'the files are incomplete; choose a folder in "Weights"'
    assert err.describe("window") == '/w: no weights (the files are incomplete; choose a folder in "Weights")'
    plain = Sam3RotoError("bad", hint="do this")
    assert plain.hint_for("cli") == plain.hint_for("window") == "do this"
    assert Sam3RotoError("bad").hint_for("window") is None and str(Sam3RotoError("bad")) == "bad"
    assert (RUN_DEPTH_HINT + ", again").window.endswith(", again")
    with pytest.raises(ValueError, match="face"):
        err.hint_for("gui")  # type: ignore[arg-type]
