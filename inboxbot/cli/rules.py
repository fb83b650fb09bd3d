"""`inboxbot rules ...`: list, show and test the rules; add, remove, enable, disable and move
them. Edits go through inboxbot/rules_edit.py: validated, atomic, with a .bak, under a lock."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from inboxbot.cli.common import ConfigOption, JsonOption, errors_to_exit, load, print_json
from inboxbot.cli.output import print_table, success
from inboxbot.errors import InboxbotError

rules_app = typer.Typer(
    help="List, test and edit the rules in rules/ (edits keep comments; a .bak is kept).",
    no_args_is_help=True,
)


def _complete_names(incomplete: str) -> list[str]:
    """Shell completion of rule names from the default config; silent when there is none."""
    try:
        _, ruleset = _load_rules(None)
    except Exception:
        return []
    return [r.name for r in ruleset.rules if r.name.startswith(incomplete)]


NameArgument = Annotated[
    str,
    typer.Argument(
        help='the rule\'s name, e.g. "urgent complaints"',
        metavar="NAME",
        autocompletion=_complete_names,
    ),
]
BeforeOption = Annotated[
    str | None,
    typer.Option(
        "--before",
        help='place it just before this rule, e.g. --before "acknowledge"',
        autocompletion=_complete_names,
    ),
]
AfterOption = Annotated[
    str | None,
    typer.Option(
        "--after",
        help='place it just after this rule, e.g. --after "vip"',
        autocompletion=_complete_names,
    ),
]


def _load_rules(config_path: Path | None) -> Any:
    from inboxbot.plugins import registry
    from inboxbot.rulefiles import load_rules

    config = load(config_path)
    return config, load_rules(config.paths.rules, config.folders.roles(), registry())


def _editor(config_path: Path | None) -> Any:
    from inboxbot.plugins import registry
    from inboxbot.rules_edit import RuleEditor

    config = load(config_path)
    return RuleEditor(config.paths.rules, config.folders.roles(), registry())


def _one_place(before: str | None, after: str | None) -> None:
    if before is not None and after is not None:
        raise typer.BadParameter("use --before or --after, not both")


# --- reading --------------------------------------------------------------------------------


def _rule_json(rule: Any, order: int) -> dict[str, Any]:
    return {
        "order": order,
        "name": rule.name,
        "enabled": rule.enabled,
        "file": rule.where,
        "when": {c.key: c.value for c in rule.conditions},
        "then": [{"type": kind, **args} for kind, args in rule.actions],
        "stop": rule.stop,
    }


@rules_app.command("list")
@errors_to_exit
def rules_list(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """All rules in the order they apply: name, enabled, conditions, actions, file.

    Example: inboxbot rules list --json
    """
    _, ruleset = _load_rules(config)
    rows = [_rule_json(rule, i + 1) for i, rule in enumerate(ruleset.rules)]
    if json_output:
        print_json(rows)
        return
    table = []
    for row in rows:
        when = ", ".join(f"{k}={_short(v)}" for k, v in row["when"].items()) or "(always)"
        then = ", ".join(_describe_action(a) for a in row["then"])
        table.append(
            [
                str(row["order"]),
                row["name"],
                "yes" if row["enabled"] else "no",
                when,
                then + (" [stop]" if row["stop"] else ""),
                row["file"],
            ]
        )
    print_table(("#", "name", "enabled", "when", "then", "file"), table)


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else repr(value)


def _describe_action(action: dict[str, Any]) -> str:
    args = " ".join(str(v) for k, v in action.items() if k != "type")
    return f"{action['type']} {args}".strip()


@rules_app.command("show")
@errors_to_exit
def rules_show(
    name: NameArgument, config: ConfigOption = None, json_output: JsonOption = False
) -> None:
    """One rule in full.

    Example: inboxbot rules show "urgent complaints"
    """
    _, ruleset = _load_rules(config)
    for order, rule in enumerate(ruleset.rules, start=1):
        if rule.name == name:
            data = _rule_json(rule, order)
            if json_output:
                print_json(data)
            else:
                for key, value in data.items():
                    typer.echo(f"{key}: {value}")
            return
    raise InboxbotError(f"no rule named {name!r}; `inboxbot rules list` shows the names")


@rules_app.command("test")
@errors_to_exit
def rules_test(
    file: Annotated[
        Path, typer.Argument(help="an .eml file, e.g. mail/complaint.eml", metavar="FILE")
    ],
    config: ConfigOption = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="ISO-8601 time to test at, e.g. --at 2026-11-27T18:00+01:00"),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Which rules match a message and why, condition by condition.

    Example: inboxbot rules test complaint.eml --at 2026-11-27T18:00+01:00
    """
    from inboxbot.app import build_engine
    from inboxbot.cli.simulate import parse_at
    from inboxbot.core.message import parse_message
    from inboxbot.core.rules import trace_rule

    if not file.is_file():
        raise InboxbotError(f"{file}: no such file")
    engine = build_engine(load(config), with_templates=False)
    triage = engine.triage(parse_message(file.read_bytes()), parse_at(at))
    traces = [trace_rule(rule, triage) for rule in engine.rules.rules]
    if json_output:
        print_json(
            [
                {
                    "rule": t.rule.name,
                    "matched": t.matched,
                    "enabled": t.rule.enabled,
                    "conditions": [
                        {"condition": c.key, "expects": c.value, "holds": c.holds, "saw": c.seen}
                        for c in t.conditions
                    ],
                }
                for t in traces
            ]
        )
        return
    for trace in traces:
        state = "MATCH" if trace.matched else "no"
        disabled = " (disabled)" if not trace.rule.enabled else ""
        typer.echo(f"{state:5} {trace.rule.name}{disabled}  [{trace.rule.where}]")
        for c in trace.conditions:
            typer.echo(
                f"        {'true ' if c.holds else 'false'} {c.key} = {c.value!r} (saw: {c.seen})"
            )


# --- editing --------------------------------------------------------------------------------


@rules_app.command("add")
@errors_to_exit
def rules_add(
    name: Annotated[
        str, typer.Argument(help='a new, unique name, e.g. "bigco complaints"', metavar="NAME")
    ],
    when: Annotated[
        list[str] | None,
        typer.Option(
            "--when",
            help="a condition KEY=VALUE, repeatable; all must hold, e.g. --when complaint=true "
            "--when from=*@bigco.example (values that look like TOML are TOML: true, 3, "
            '["a","b"]; anything else is text)',
        ),
    ] = None,
    then: Annotated[
        list[str] | None,
        typer.Option(
            "--then",
            help="an action KEY=VALUE, repeatable, e.g. --then move=vip --then tag=vip "
            '--then \'remind={after="promise", to="staff"}\'',
        ),
    ] = None,
    stop: Annotated[
        bool, typer.Option("--stop", help="no later rule runs for a matching message, e.g. --stop")
    ] = False,
    before: BeforeOption = None,
    after: AfterOption = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="the rules file to add it to (created if new), e.g. --file rules/20-bigco.toml; "
            "default: the file of --before/--after, else the last file",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Add a rule; it is validated with all the others before it is written.

    Example: inboxbot rules add "bigco" --when complaint=true --when from=*@bigco.example
    --then move=vip --then tag=vip --before "complaints"
    """
    from inboxbot.rules_edit import parse_assignments

    _one_place(before, after)
    try:
        conditions = parse_assignments(when or [], "--when")
        actions = parse_assignments(then or [], "--then")
    except InboxbotError as error:  # a malformed option is a usage error (exit 2)
        raise typer.BadParameter(str(error)) from None
    if not actions and not stop:
        raise typer.BadParameter(
            "a rule needs at least one --then (or --stop)", param_hint="--then"
        )
    success(
        _editor(config).add(
            name, conditions, actions, stop=stop, before=before, after=after, file=file
        )
    )


@rules_app.command("remove")
@errors_to_exit
def rules_remove(name: NameArgument, config: ConfigOption = None) -> None:
    """Remove a rule (the previous file is kept as .bak).

    Example: inboxbot rules remove "bigco"
    """
    success(_editor(config).remove(name))


@rules_app.command("enable")
@errors_to_exit
def rules_enable(name: NameArgument, config: ConfigOption = None) -> None:
    """Switch a disabled rule back on.

    Example: inboxbot rules enable "acknowledge"
    """
    success(_editor(config).set_enabled(name, True))


@rules_app.command("disable")
@errors_to_exit
def rules_disable(name: NameArgument, config: ConfigOption = None) -> None:
    """Switch a rule off without deleting it (enabled = false).

    Example: inboxbot rules disable "acknowledge"
    """
    success(_editor(config).set_enabled(name, False))


@rules_app.command("move")
@errors_to_exit
def rules_move(
    name: NameArgument,
    before: BeforeOption = None,
    after: AfterOption = None,
    config: ConfigOption = None,
) -> None:
    """Change the order: rules apply in file-name order, then top to bottom.

    Example: inboxbot rules move "complaints" --before "urgent complaints"
    """
    _one_place(before, after)
    if before is None and after is None:
        raise typer.BadParameter("say where: --before OTHER or --after OTHER")
    success(_editor(config).move(name, before=before, after=after))
