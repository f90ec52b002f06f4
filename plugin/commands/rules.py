"""`escalator validate` and `escalator due`: checking rules and configuration files, and deadline arithmetic.
Neither touches Redis or a help desk."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from escalator.plugin.commands.common import EXIT_OK, EXIT_PROBLEM, fail, instant_arg, load_rules_reporting
from escalator.rules.calendar import CalendarError
from escalator.rules.durations import DurationError, parse_duration
from escalator.rules.model import format_instant


def _is_configuration(path: str) -> bool:
    """A deployment configuration names tenants; a rules file never does."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "tenants" in data and "tiers" not in data


def validate_rules(filename: str, label: str | None = None) -> bool:
    """Print one line per problem (or a summary line); True when the file is valid."""
    label = label or filename
    policy = load_rules_reporting(filename, sys.stdout, label)
    if policy is None:
        return False
    print(
        f"{label}: valid ({len(policy.tiers)} tiers, {len(policy.teams)} teams, "
        f"{len(policy.triggers)} triggers, {len(policy.slas)} SLAs)"
    )
    return True


def validate_configuration(filename: str) -> bool:
    """The configuration (schema, URLs, vendors' settings, with JSON paths) and every rules file it names.
    `{"env": NAME}` values are taken as given: the secrets need not be present where files are checked."""
    from escalator.plugin.config import ConfigError, check_config_file

    try:
        rules_files = check_config_file(filename)
    except ConfigError as error:
        for line in str(error).splitlines():
            print(f"{filename}: {line}")
        return False
    valid = all([validate_rules(str(path)) for path in rules_files])
    if valid:
        print(f"{filename}: valid configuration ({len(rules_files)} rules file(s) checked)")
    return valid


def cmd_validate(args: argparse.Namespace) -> int:
    results = [validate_configuration(name) if _is_configuration(name) else validate_rules(name) for name in args.files]
    return EXIT_OK if all(results) else EXIT_PROBLEM


def cmd_due(args: argparse.Namespace) -> int:
    policy = load_rules_reporting(args.rules, sys.stdout)
    if policy is None:
        return EXIT_PROBLEM
    calendar = policy.calendars.get(args.calendar)
    if calendar is None:
        known = ", ".join(sorted(policy.calendars)) or "none"
        return fail(f"no calendar '{args.calendar}' in {args.rules} (calendars: {known})")
    try:
        if args.between:
            start, end = (instant_arg(text) for text in args.between)
            print(round(calendar.between(start, end)))
            return EXIT_OK
        if args.start is None or args.duration is None:
            return fail("give --start and --duration, or --between START END")
        deadline = calendar.add(instant_arg(args.start), parse_duration(args.duration))
    except (argparse.ArgumentTypeError, DurationError, CalendarError) as error:
        return fail(str(error))
    print(format_instant(deadline))
    return EXIT_OK


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = commands.add_parser(
        "validate",
        help="check rules files or configuration files; exit 1 if any is invalid",
        description="One line per problem: FILE: $.json.path: message. A configuration file (one with "
        "`tenants`) is checked with the rules files it names. Touches neither Redis nor a help desk.",
        epilog="environment: none",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(run=cmd_validate)

    due = commands.add_parser(
        "due",
        help="when is a deadline due on a business calendar?",
        description="The deadline in UTC for START + DURATION on a calendar of a rules file, or with --between the "
        "business seconds between two instants.",
        epilog="environment: none",
    )
    due.add_argument("rules", metavar="RULES")
    due.add_argument("--calendar", required=True)
    due.add_argument("--start")
    due.add_argument("--duration")
    due.add_argument("--between", nargs=2, metavar=("START", "END"))
    due.set_defaults(run=cmd_due)
