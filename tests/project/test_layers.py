"""The layer order of bot/ (docs/architecture.md), checked on the source: a module imports only from its
own package and from layers below it, siblings in one layer stay apart, and no import cycle exists.
Imports made only for type checking (under ``if TYPE_CHECKING:``) do not count; imports inside
functions do."""

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"

# Top to bottom. Each entry is one layer: the packages or modules in it, which may not import each other.
LAYERS = [
    ("bot.__main__",),
    ("bot.cli", "bot.testing"),  # the command line; the peers only tests use
    ("bot.runtime",),  # the composition root
    ("bot.slack", "bot.simulator"),  # Slack's side; the gateway simulator (a product)
    ("bot.web",),  # HTTP: Slack's requests, delivery reports, health
    ("bot.usecases",),  # what people ask for
    ("bot.metrics",),
    ("bot.workers",),  # the threads: sender, balance watch, retention
    ("bot.storage",),  # SQLite, one owner per table
    ("bot.sms",),  # the domain: numbers, texts, the gateway's API
    ("bot.config", "bot.logs"),  # settings; logging
    ("bot.redact", "bot.wording", "bot"),  # the ground: no secret shown, counts in English
]


def module_name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = BOT.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def type_only(tree: ast.AST) -> set[int]:
    """The ids of nodes under ``if TYPE_CHECKING:``."""
    hidden = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(n) for n in ast.walk(node))
    return hidden


def imports() -> dict[str, set[str]]:
    """Each bot module → the bot modules it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted(BOT.rglob("*.py")):
        name, tree = module_name(path), ast.parse(path.read_text(), str(path))
        hidden, found = type_only(tree), set()
        for node in ast.walk(tree):
            if id(node) in hidden:
                continue
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name == "bot" or a.name.startswith("bot.")}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bot":
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if is_module(sub) else node.module)
        graph[name] = found - {name}
    return graph


def layer_of(name: str) -> tuple[int, str]:
    """(layer index, the layer entry the module belongs to): the longest entry that is it or contains it."""
    best = None
    for index, layer in enumerate(LAYERS):
        for entry in layer:
            if (name == entry or name.startswith(entry + ".")) and (best is None or len(entry) > len(best[1])):
                best = (index, entry)
    assert best is not None, f"{name} is in no layer: add its package to LAYERS (and to docs/architecture.md)"
    return best


def test_every_import_goes_down_the_layers_or_stays_in_its_package():
    wrong = []
    for importer, imported in sorted(imports().items()):
        here, own = layer_of(importer)
        for target in sorted(imported):
            there, theirs = layer_of(target)
            if there < here or (there == here and theirs != own):
                wrong.append(f"{importer} imports {target} ({own} may not use {theirs})")
    assert wrong == []


def test_there_is_no_import_cycle():
    graph = imports()
    cycles, seen, on_path, path = [], set(), set(), []

    def visit(node: str) -> None:
        seen.add(node)
        on_path.add(node)
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_path:
                cycles.append(" -> ".join(path[path.index(nxt) :] + [nxt]))
            elif nxt not in seen:
                visit(nxt)
        path.pop()
        on_path.discard(node)

    for node in sorted(graph):
        if node not in seen:
            visit(node)
    assert cycles == []


def test_the_layers_cover_the_tree_and_the_check_sees_real_imports():
    graph = imports()
    assert "bot.usecases.sending" in graph and "bot.storage.queue" in graph["bot.usecases.sending"]
    assert all(layer_of(name) for name in graph)  # every module placed
    assert len([p for p in BOT.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]) <= 6
