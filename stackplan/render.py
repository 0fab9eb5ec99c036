"""A plan as text (like `pulumi preview --diff`), Markdown (a pull-request comment) or JSON.

No format ever prints a secret: a secret input shows as `[secret]`, a changed one as
`[secret] changed`, and the evaluator never hands the plan a secret's value in the first place.
The JSON schema is documented in docs/plan-json.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from stackplan.diff import Action, Change, Plan, Step, is_unknown
from stackplan.model import ROOT_STACK_TYPE, is_secret, urn_parts
from stackplan.rules import REPLACE_RULES

SCHEMA_VERSION = 1
# Finds the pull-request comment to edit instead of adding one per push.
COMMENT_MARKER = "<!-- microstack-plan -->"
# GitHub refuses comments longer than 65,536 characters; keep a margin for the truncation note.
COMMENT_LIMIT = 65_536
_COMMENT_BUDGET = COMMENT_LIMIT - 2_000
_VALUE_WIDTH = 100

SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.REPLACE: "+-", Action.DELETE: "-"}
ORDER = (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE)


@dataclass(frozen=True)
class Heading:
    """What was compared: the stack and the two sides (a ref and its commit, or the work tree)."""

    stack: str
    base: str
    head: str


def component_of(step: Step) -> str:
    """`<component type> <name>` of the step's parent, or `stack` for a top-level resource."""
    if not step.parent:
        return "stack"
    _, _, qualified, name = urn_parts(step.parent)
    component_type = qualified.split("$")[-1]
    if component_type == ROOT_STACK_TYPE:
        return "stack"
    return f"{component_type.split(':')[-1]} {name}"


def show(value: Any) -> str:
    """A value on one line, secrets masked, long values shortened."""
    if is_unknown(value):
        return f"(known after apply: {', '.join(value['__unknown__'])} is replaced or created)"
    text = json.dumps(_masked(value), sort_keys=True, ensure_ascii=False)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 1] + "…"


def _masked(value: Any) -> Any:
    if is_secret(value):
        return "[secret]"
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def _describe_change(change: Change, action: Action) -> str:
    if change.secret:
        if action is Action.CREATE:
            return f"{change.path}: [secret]"
        return f"{change.path}: [secret] changed"
    if action is Action.CREATE or change.old is None:
        return f"{change.path}: {show(change.new)}"
    if change.new is None:
        return f"{change.path}: {show(change.old)} (removed)"
    return f"{change.path}: {show(change.old)} => {show(change.new)}"


def _effect_label(change: Change) -> str:
    return {"replace": "forces replacement", "update": "update in place"}.get(
        change.effect, change.effect
    )


def _action_label(step: Step) -> str:
    if step.action is Action.REPLACE and step.delete_before_replace:
        return "replace (delete before replace)"
    if step.action is Action.UPDATE and step.provider_decides:
        return "update (provider decides)"
    return step.action.value


class _Footnotes:
    """Rule sources, numbered in order of first use, so each line can cite one briefly."""

    def __init__(self) -> None:
        self.sources: list[str] = []

    def cite(self, source: str | None) -> str:
        if not source:
            return ""
        if source not in self.sources:
            self.sources.append(source)
        return f" [{self.sources.index(source) + 1}]"


def _grouped(plan: Plan) -> list[tuple[str, list[Step]]]:
    groups: dict[str, list[Step]] = {}
    for step in plan.steps:
        groups.setdefault(component_of(step), []).append(step)
    return sorted(groups.items(), key=lambda item: (item[0] != "stack", item[0]))


def _why(step: Step, notes: _Footnotes) -> str:
    if step.action is Action.REPLACE:
        forced = {
            _change_key(change): change.rule
            for change in step.changes
            if change.effect == "replace"
        }
        reasons = ", ".join(f"`{key}`{notes.cite(rule)}" for key, rule in sorted(forced.items()))
        order = ""
        if step.delete_before_replace:
            order = f"; the old one is deleted first{notes.cite(step.delete_before_replace_rule)}"
        return f"{reasons} forces replacement{order}"
    if step.action is Action.UPDATE and step.provider_decides:
        unknown = sorted({_change_key(c) for c in step.changes if c.rule is None})
        return f"no known rule for {', '.join(f'`{key}`' for key in unknown)}"
    if step.previous_urn:
        return "moved: matched through an alias"
    return ""


def _change_key(change: Change) -> str:
    return change.path.split(".", 1)[0].split("[", 1)[0]


def _summary_counts(plan: Plan) -> dict[str, int]:
    counts = {action.value: plan.count(action) for action in ORDER}
    counts["unchanged"] = plan.unchanged
    return counts


# ---------------------------------------------------------------------------------------------
# text


def render_text(plan: Plan, heading: Heading) -> str:
    notes = _Footnotes()
    lines = [f"Plan for stack {heading.stack}: base {heading.base} -> head {heading.head}", ""]
    lines.extend(f"note: {note}" for note in plan.notes)
    if plan.notes:
        lines.append("")
    if not plan.steps:
        lines.append(f"No changes. {plan.unchanged} resources unchanged.")
        return "\n".join(lines) + "\n"
    for component, steps in _grouped(plan):
        lines.append(component)
        for step in steps:
            lines.extend(_text_step(step, notes))
        lines.append("")
    lines.append("Resources:")
    for action in ORDER:
        if count := plan.count(action):
            lines.append(f"    {SYMBOLS[action]} {count} to {action.value}")
    lines.append(f"    {plan.unchanged} unchanged")
    lines.extend(_text_sources(notes))
    return "\n".join(lines) + "\n"


def _text_step(step: Step, notes: _Footnotes) -> Iterator[str]:
    yield f"  {SYMBOLS[step.action]:<2} {step.type} {step.name}  ({_action_label(step)})"
    if why := _why(step, notes):
        yield f"       why: {why.replace('`', '')}"
    for change in step.changes:
        symbol = _change_symbol(change, step.action)
        yield f"       {symbol} {_describe_change(change, step.action)}"
        if step.action is not Action.CREATE:
            yield f"           {_effect_label(change)}{notes.cite(change.rule)}"


def _change_symbol(change: Change, action: Action) -> str:
    if action is Action.CREATE or (change.old is None and not change.secret):
        return "+"
    if change.new is None and not change.secret:
        return "-"
    return "~"


def _text_sources(notes: _Footnotes) -> Iterator[str]:
    if notes.sources:
        yield ""
        yield "Rules:"
        for number, source in enumerate(notes.sources, 1):
            yield f"  [{number}] {source}"


# ---------------------------------------------------------------------------------------------
# Markdown


def render_markdown(plan: Plan, heading: Heading, *, limit: int = _COMMENT_BUDGET) -> str:
    notes = _Footnotes()
    head = [
        COMMENT_MARKER,
        f"### Stack plan: `{heading.stack}`",
        "",
        f"Base {heading.base} → head {heading.head}. Computed from the program under mocks "
        "(`python -m scripts.plan`): no backend, no state, so drift is not seen.",
        "",
    ]
    head.extend(f"> **Note:** {note}" for note in plan.notes)
    if plan.notes:
        head.append("")
    counts = _summary_counts(plan)
    head += [
        "| create | update | replace | delete | unchanged |",
        "|---:|---:|---:|---:|---:|",
        "| " + " | ".join(str(counts[key]) for key in counts) + " |",
        "",
    ]
    if not plan.steps:
        return "\n".join([*head, "No changes."]) + "\n"
    table = ["| | resource | component | action | why |", "|---|---|---|---|---|"]
    table += [
        f"| {SYMBOLS[step.action]} | `{step.name}` ({_short_type(step.type)}) | "
        f"{component_of(step)} | {_action_label(step)} | {_why(step, notes)} |"
        for _, steps in _grouped(plan)
        for step in steps
    ]
    details = [_markdown_details(step, notes) for _, steps in _grouped(plan) for step in steps]
    return _fit([*head, *table, ""], details, notes, limit)


def _short_type(resource_type: str) -> str:
    return resource_type.split(":")[-1]


def _markdown_details(step: Step, notes: _Footnotes) -> str:
    body = []
    for change in step.changes:
        line = f"{_change_symbol(change, step.action)} {_describe_change(change, step.action)}"
        if step.action is not Action.CREATE:
            line += f"   # {_effect_label(change)}{notes.cite(change.rule)}"
        body.append(line.replace("```", "'''"))
    summary = (
        f"{SYMBOLS[step.action]} <code>{step.name}</code> ({_short_type(step.type)}, "
        f"{component_of(step)}): {_action_label(step)}"
    )
    block = "\n".join(body) if body else "(no inputs)"
    return f"<details><summary>{summary}</summary>\n\n```diff\n{block}\n```\n</details>\n"


def _fit(head: list[str], details: Sequence[str], notes: _Footnotes, limit: int) -> str:
    """Everything that fits in the budget, in order; then a note saying what was left out."""
    text = "\n".join(head) + "\n"
    sources = _markdown_sources(notes)
    kept = 0
    for section in details:
        if len(text) + len(section) + len(sources) > limit:
            break
        text += section
        kept += 1
    if kept < len(details):
        text += (
            f"\n> **Truncated:** {len(details) - kept} of {len(details)} resources' details are "
            "left out to stay under GitHub's comment limit; the full plan is in the JSON artifact "
            "or `python -m scripts.plan`.\n"
        )
    return text + sources


def _markdown_sources(notes: _Footnotes) -> str:
    if not notes.sources:
        return ""
    lines = ["<sub>Rules:"]
    lines += [f"[{number}] {source}" for number, source in enumerate(notes.sources, 1)]
    return "\n" + "<br>\n".join(lines) + "</sub>\n"


# ---------------------------------------------------------------------------------------------
# JSON


def render_json(plan: Plan, heading: Heading) -> str:
    document = {
        "schema_version": SCHEMA_VERSION,
        "stack": heading.stack,
        "base": heading.base,
        "head": heading.head,
        "summary": _summary_counts(plan),
        "notes": list(plan.notes),
        "steps": [_json_step(step) for step in plan.steps],
        "rules": [
            {
                "type": rule.resource_type,
                "inputs": list(rule.inputs),
                "effect": rule.effect.value,
                "source": rule.source,
            }
            for rule in REPLACE_RULES
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _json_step(step: Step) -> dict[str, Any]:
    return {
        "action": step.action.value,
        "urn": step.urn,
        "type": step.type,
        "name": step.name,
        "custom": step.custom,
        "component": component_of(step),
        "previous_urn": step.previous_urn,
        "replaced_by": list(step.replaced_by),
        "delete_before_replace": step.delete_before_replace,
        "provider_decides": step.provider_decides,
        "changes": [_json_change(change) for change in step.changes],
    }


def _json_change(change: Change) -> dict[str, Any]:
    unknown = is_unknown(change.new)
    return {
        "path": change.path,
        "old": None if change.secret else _masked(change.old),
        "new": None if change.secret or unknown else _masked(change.new),
        "secret": change.secret,
        "unknown_until": change.new["__unknown__"] if unknown else [],
        "effect": change.effect,
        "rule": change.rule,
    }


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
