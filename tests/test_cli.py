"""The command line as admins use it: `escalator validate` and `escalator due`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from escalator.plugin.cli import main
from tests.support import V1_POLICY

SEED = str(V1_POLICY)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_validate_accepts_the_seed_policy(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", SEED)
    assert code == 0 and out.startswith(f"{SEED}: valid (3 tiers, 3 teams,")


def test_validate_prints_one_line_per_problem_and_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    broken: dict[str, Any] = json.loads(Path(SEED).read_text())
    broken["triggers"][1]["if"]["all"][0]["field"] = "txt"
    broken["triggers"][1]["then"][0]["to"] = "L9"
    broken["slas"][0]["first_response"] = "soon"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    code, out, _ = run(capsys, "validate", str(path), SEED)
    assert code == 1
    lines = out.splitlines()
    hint = "(use 45s, 15m, 4h, 2d, 1h30m or ISO 8601 like PT15M)"
    assert f"{path}: $.slas[0].first_response: 'soon' is not a duration {hint}" in lines
    assert f"{path}: $.triggers[1].if.all[0].field: unknown field 'txt' (did you mean 'text'?)" in lines
    assert any(line.startswith(f"{path}: $.triggers[1].then[0].to: unknown tier or team 'L9'") for line in lines)
    assert lines[-1].startswith(f"{SEED}: valid"), "every file is checked, the valid one too"


def test_validate_reports_unreadable_and_non_json_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    code, out, _ = run(capsys, "validate", str(garbage), str(tmp_path / "missing.json"))
    assert code == 1
    assert out.splitlines()[0].startswith(f"{garbage}: $: not valid JSON")
    assert out.splitlines()[1].startswith(f"{tmp_path / 'missing.json'}: $: cannot read the file")


@pytest.mark.parametrize(
    ("start", "duration", "deadline"),
    [
        # Friday 16:30 EST + 2 business hours, across the spring-forward weekend -> Monday 10:30 EDT.
        ("2026-03-06T21:30:00Z", "2h", "2026-03-09T14:30:00Z"),
        # Fall back: Friday 2026-10-30 16:00 EDT + 3h -> Monday 11:00 EST.
        ("2026-10-30T20:00:00Z", "3h", "2026-11-02T16:00:00Z"),
        # Thanksgiving (US holiday, Thu 2026-11-26): Wednesday 16:00 EST + 2h -> Friday 10:00 EST.
        ("2026-11-25T21:00:00Z", "2h", "2026-11-27T15:00:00Z"),
        # Starting on a weekend counts from Monday 09:00.
        ("2026-03-07T12:00:00Z", "PT30M", "2026-03-09T13:30:00Z"),
    ],
)
def test_due_agrees_with_hand_worked_cases(
    capsys: pytest.CaptureFixture[str], start: str, duration: str, deadline: str
) -> None:
    code, out, _ = run(capsys, "due", SEED, "--calendar", "business", "--start", start, "--duration", duration)
    assert (code, out) == (0, deadline + "\n")


def test_due_between_prints_business_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "due", SEED, "--calendar", "business", "--between", "2026-03-06T21:30:00Z", "2026-03-09T14:30:00Z"
    )
    assert (code, out) == (0, "7200\n")
    code, out, _ = run(
        capsys, "due", SEED, "--calendar", "business", "--between", "2026-11-25T21:00:00Z", "2026-11-27T15:00:00Z"
    )
    assert (code, out) == (0, "7200\n"), "Thanksgiving counts for nothing"


def test_due_explains_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "due", SEED, "--calendar", "nope", "--start", "2026-03-06T21:30:00Z", "--duration", "2h")
    assert code == 2 and "no calendar 'nope'" in err and "business" in err
    code, _, err = run(capsys, "due", SEED, "--calendar", "business", "--start", "yesterday", "--duration", "2h")
    assert code == 2 and "'yesterday' is not an ISO 8601 instant" in err
    code, _, err = run(
        capsys, "due", SEED, "--calendar", "business", "--start", "2026-03-06T21:30:00Z", "--duration", "two hours"
    )
    assert code == 2 and "is not a duration" in err
