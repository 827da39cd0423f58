"""Every audit action the code writes has a Japanese label (the log viewer and the person's access
report must never show a bare code). The actions are read from the source, not listed by hand."""
import ast
import pathlib

from kenshin.audit.labels import ACTION_LABELS

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.joinpath("kenshin").rglob("*.py"), *ROOT.joinpath("blueprints").rglob("*.py"),
                  ROOT / "app.py"])


def _modules():
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in SOURCES}


def _constants(tree) -> dict[str, str]:
    """Module-level NAME = "text" assignments."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def _functions(modules) -> dict[str, list[ast.FunctionDef]]:
    functions: dict[str, list] = {}
    for tree in modules.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                functions.setdefault(node.name, []).append(node)
    return functions


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


class Collector:
    """The strings an expression passed as an audit action can take."""

    def __init__(self, modules):
        self.modules = modules
        self.functions = _functions(modules)
        # every call with the function it sits in and its module's constants, so that a value
        # passed along from a caller's own parameter can be followed too
        self.calls = []
        for tree in modules.values():
            constants = _constants(tree)
            for scope in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
                for node in ast.walk(scope):
                    if isinstance(node, ast.Call):
                        self.calls.append((node, scope, constants))
        self.unresolved: list[str] = []
        self.module_constants = [_constants(tree) for tree in modules.values()]

    def values(self, node, constants, scope, seen=frozenset()) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.IfExp):
            return (self.values(node.body, constants, scope, seen)
                    | self.values(node.orelse, constants, scope, seen))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return {a + b for a in self.values(node.left, constants, scope, seen)
                    for b in self.values(node.right, constants, scope, seen)}
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict):
            return set().union(*(self.values(v, constants, scope, seen) for v in node.value.values))
        if isinstance(node, ast.Name):
            if node.id in constants:
                return {constants[node.id]}
            return self.parameter(node.id, scope, seen)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            # `module.ACTION` where the module varies: that constant in every module that has one
            found = {c[node.attr] for c in self.module_constants if node.attr in c}
            if found:
                return found
        self.unresolved.append(ast.unparse(node))
        return set()

    def parameter(self, name, scope, seen) -> set[str]:
        """A function parameter: its default, and what every caller passes for it."""
        if scope is None or (scope.name, name) in seen:
            return set()
        seen = seen | {(scope.name, name)}
        found: set[str] = set()
        args = scope.args.args
        names = [a.arg for a in args]
        keyword_only = [a.arg for a in scope.args.kwonlyargs]
        if name in keyword_only:
            default = scope.args.kw_defaults[keyword_only.index(name)]
            if default is not None:
                found |= self.values(default, {}, None, seen)
            for call, caller, constants in self.calls:
                if _call_name(call) == scope.name:
                    for keyword in call.keywords:
                        if keyword.arg == name:
                            found |= self.values(keyword.value, constants, caller, seen)
            return found
        if name not in names:
            # a local variable assigned in the function body
            for node in ast.walk(scope):
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name
                                                        for t in node.targets):
                    found |= self.values(node.value, {}, scope, seen)
            if not found:
                self.unresolved.append(f"{scope.name}:{name}")
            return found
        index = names.index(name)
        defaults = scope.args.defaults
        offset = len(args) - len(defaults)
        if index >= offset:
            found |= self.values(defaults[index - offset], {}, None, seen)
        for call, caller, constants in self.calls:
            if _call_name(call) != scope.name:
                continue
            for keyword in call.keywords:
                if keyword.arg == name:
                    found |= self.values(keyword.value, constants, caller, seen)
            position = index - (1 if names and names[0] in ("self", "cls") else 0)
            if position < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args):
                found |= self.values(call.args[position], constants, caller, seen)
        return found


def actions_in_code() -> tuple[set[str], list[str]]:
    modules = _modules()
    collector = Collector(modules)
    actions: set[str] = set()
    for tree in modules.values():
        constants = _constants(tree)
        scopes = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
        for scope in scopes:
            for node in ast.walk(scope):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "record" and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "audit" and node.args):
                    actions |= collector.values(node.args[0], constants, scope)
    return actions, collector.unresolved


def test_the_collector_finds_literal_computed_and_passed_in_actions():
    actions, _ = actions_in_code()
    # a literal, a conditional, a constant plus a suffix, a dict lookup, a parameter's default
    # and a value passed by callers
    assert {"screening.create", "screening.verify", "screening.difference", "institution.deactivate",
            "import.results.preview", "audit.heads", "inquiry.print", "print"} <= actions


def test_every_audit_action_in_the_code_has_a_japanese_label():
    actions, unresolved = actions_in_code()
    assert not unresolved, f"audit actions the test cannot follow: {unresolved}"
    missing = sorted(action for action in actions if action not in ACTION_LABELS)
    assert not missing, f"audit actions without a label in kenshin/audit_labels.py: {missing}"
    assert all(ACTION_LABELS[action].strip() for action in actions)


# --- detail keys and the person's record ----------------------------------------------------------

def _detail_keys_in_code() -> dict[str, str]:
    """Keys of the details the code records: dict literals and dict(...) keywords passed as
    `details=` to audit.record, and the keys built by the helpers that make details (functions
    named *details that return a dict or set `details[...]`). Key → where it was seen."""
    found: dict[str, str] = {}
    for path, tree in _modules().items():
        where = str(path.relative_to(ROOT))

        def take(node):
            if isinstance(node, ast.Dict):
                for key in node.keys:
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        found.setdefault(key.value, where)
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "dict":
                for keyword in node.keywords:
                    if keyword.arg:
                        found.setdefault(keyword.arg, where)
                for arg in node.args:
                    take(arg)

        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "record" and getattr(node.func.value, "id", "") == "audit"):
                for keyword in node.keywords:
                    if keyword.arg == "details":
                        take(keyword.value)
            if isinstance(node, ast.FunctionDef) and node.name.endswith(("details", "for_audit")):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Return) and inner.value is not None:
                        take(inner.value)
                    if (isinstance(inner, ast.Assign) and isinstance(inner.targets[0], ast.Subscript)
                            and isinstance(inner.targets[0].slice, ast.Constant)):
                        found.setdefault(inner.targets[0].slice.value, where)
                    if isinstance(inner, ast.Assign) and isinstance(inner.value, ast.Dict):
                        take(inner.value)
    return found


def test_the_detail_key_collector_follows_literals_keywords_and_helpers():
    keys = _detail_keys_in_code()
    # a literal key, a dict(...) keyword, a key set by csvimport.audit_details, a Filters method
    assert {"agreed", "format", "problems", "requester_type", "kana_typed", "office"} <= set(keys)


def test_every_detail_key_in_the_code_has_a_japanese_label():
    from kenshin.audit.labels import DETAIL_LABELS

    keys = _detail_keys_in_code()
    missing = sorted(f"{key} ({where})" for key, where in keys.items() if key not in DETAIL_LABELS)
    assert not missing, f"detail keys without a label in kenshin/audit/labels.py: {missing}"


def _actions_with_a_person() -> set[str]:
    """The actions the code records with `resident=`: they appear in the person's access record."""
    modules = _modules()
    collector = Collector(modules)
    actions: set[str] = set()
    for tree in modules.values():
        constants = _constants(tree)
        for scope in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            for node in ast.walk(scope):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "record" and getattr(node.func.value, "id", "") == "audit"
                        and node.args and any(k.arg == "resident" for k in node.keywords)):
                    actions |= collector.values(node.args[0], constants, scope)
    return actions


def test_every_action_about_a_person_has_words_for_that_person():
    from kenshin.audit.labels import RESIDENT_PHRASES

    actions = _actions_with_a_person()
    assert {"resident.view", "screening.create", "audit.person_report"} <= actions
    missing = sorted(a for a in actions if a not in RESIDENT_PHRASES)
    assert not missing, f"actions about a person without words for the person: {missing}"
    for action in actions:
        phrase = RESIDENT_PHRASES[action]
        assert "." not in phrase and "_" not in phrase and phrase.endswith("た"), action


def test_correction_decisions_read_the_same_in_the_log_as_on_the_record():
    from kenshin.audit.labels import VALUE_LABELS
    from kenshin.verification.corrections import DECISION_LABELS

    assert VALUE_LABELS["how"] == DECISION_LABELS
