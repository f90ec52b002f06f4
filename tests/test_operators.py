"""The condition operators: what each compares, how loose help desk values are handled, and shape errors."""

from __future__ import annotations

from typing import Any

import pytest

from escalator.rules.operators import OPERATORS, OperatorValueError, compile_comparison, phrase_pattern

OUTAGE_PHRASES = ["outage", "cannot log in", "can't log in"]


def holds(operator: str, value: Any, actual: Any) -> bool:
    return bool(compile_comparison(operator, value)(actual))


# --- is / is_not -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "actual", "expected"),
    [
        ("urgent", "urgent", True),
        ("urgent", "URGENT", True),  # vendors send enums upper-case
        ("urgent", "high", False),
        ("urgent", None, False),
        (True, True, True),
        (True, 1, False),  # a flag is not a number
        (False, 0, False),
        (False, None, False),
        (3, 3, True),
        (3, 3.0, True),
        (None, None, True),
    ],
)
def test_is(value: Any, actual: Any, expected: bool) -> None:
    assert holds("is", value, actual) is expected
    assert holds("is_not", value, actual) is not expected


def test_is_does_not_crash_on_a_list_valued_field() -> None:
    assert holds("is", "vip", ["vip"]) is False
    assert holds("is_not", "vip", ["vip", {"nested": 1}]) is True


# --- in / not_in -------------------------------------------------------------------------------------------


def test_in_is_membership_case_insensitive() -> None:
    assert holds("in", ["new", "open"], "Open") is True
    assert holds("in", ["new", "open"], "pending") is False
    assert holds("not_in", ["new", "open"], "pending") is True
    assert holds("not_in", ["new", "open"], "NEW") is False


def test_in_with_a_list_valued_field_means_any_item() -> None:
    # A multi-select custom field arrives as a JSON list: membership of any item, never a TypeError.
    assert holds("in", ["gold", "platinum"], ["silver", "gold"]) is True
    assert holds("in", ["gold", "platinum"], ["silver"]) is False
    assert holds("not_in", ["gold", "platinum"], ["silver", "gold"]) is False
    assert holds("not_in", ["gold"], []) is True


def test_in_keeps_flags_and_numbers_apart() -> None:
    assert holds("in", [1, 2], True) is False
    assert holds("in", [True], True) is True


# --- includes / excludes -----------------------------------------------------------------------------------


def test_includes_one_value_or_any_of_several() -> None:
    tags = ("vip", "Enterprise")
    assert holds("includes", "enterprise", tags) is True
    assert holds("includes", ["trial", "vip"], tags) is True
    assert holds("includes", ["trial"], tags) is False
    assert holds("includes", "enterprise", None) is False
    assert holds("includes", "solo", "solo") is True  # a single value counts as a one-item list


def test_excludes_is_the_complement_of_includes() -> None:
    tags = ("vip", "enterprise")
    assert holds("excludes", "enterprise", tags) is False
    assert holds("excludes", ["trial", "free"], tags) is True
    assert holds("excludes", "enterprise", ()) is True
    assert holds("excludes", "enterprise", None) is True


# --- contains_any ------------------------------------------------------------------------------------------


def test_contains_any_returns_the_admins_phrase() -> None:
    compare = compile_comparison("contains_any", OUTAGE_PHRASES)
    assert compare("Outage: cannot log in") == "outage"  # leftmost occurrence wins
    assert compare("Since this morning I CANNOT LOG IN") == "cannot log in"
    assert compare("How do I export a report?") is False


def test_contains_any_is_case_insensitive() -> None:
    compare = compile_comparison("contains_any", ["Security Breach"])
    assert compare("we suspect a SECURITY BREACH") == "Security Breach"


def test_contains_any_matches_whole_words_only() -> None:
    compare = compile_comparison("contains_any", ["outage", "legal"])
    assert compare("Our outage dashboard") == "outage"
    assert compare("outage.") == "outage"  # punctuation is a word boundary
    assert compare("(outage)") == "outage"
    # Whole words; since DESIGN §6 (tolerant of plurals) a plural is the same word, a longer word is not.
    assert compare("We had several outages last week") == "outage"
    assert compare("the paralegal called") is False
    assert compare("illegal parking") is False
    assert compare("legally speaking") is False


def test_contains_any_treats_curly_and_straight_apostrophes_alike() -> None:
    straight = compile_comparison("contains_any", ["can't log in"])
    curly = compile_comparison("contains_any", ["can\u2019t log in"])
    assert straight("I can\u2019t log in since Monday") == "can't log in"
    assert straight("I can't log in since Monday") == "can't log in"
    # The admin's own spelling is what comes back, curly or not.
    assert curly("I can't log in") == "can\u2019t log in"
    assert curly("I can\u2018t log in") == "can\u2019t log in"


def test_contains_any_allows_any_whitespace_between_words() -> None:
    compare = compile_comparison("contains_any", ["cannot   log in"])
    assert compare("I cannot\nlog\t in at all") == "cannot   log in"
    assert compare("I cannotlog in") is False


def test_contains_any_escapes_regex_characters_in_phrases() -> None:
    compare = compile_comparison("contains_any", ["error (500)", "a.b"])
    assert compare("we got error (500) twice") == "error (500)"
    assert compare("axb") is False


def test_contains_any_reads_lists_as_text() -> None:
    assert compile_comparison("contains_any", ["outage"])(["first line", "an outage here"]) == "outage"
    assert compile_comparison("contains_any", ["outage"])(None) is False


def test_phrase_pattern_joins_words_with_flexible_whitespace() -> None:
    pattern = phrase_pattern(["cannot log in"])
    assert pattern.search("x cannot  log\nin y") is not None
    assert pattern.search("xcannot log in") is None


@pytest.mark.parametrize("value", [[], [""], ["  "], ["outage", 3], "outage", None])
def test_contains_any_needs_a_list_of_phrases(value: Any) -> None:
    with pytest.raises(OperatorValueError, match="contains_any' takes a non-empty list of non-empty phrases"):
        compile_comparison("contains_any", value)


# --- matches -----------------------------------------------------------------------------------------------


def test_matches_searches_case_insensitively() -> None:
    assert holds("matches", r"^inv-\d+$", "INV-42") is True
    assert holds("matches", r"^inv-\d+$", "invoice 42") is False
    assert holds("matches", r"err", ["ok", "Error"]) is True
    assert holds("matches", r"err", None) is False


def test_matches_with_a_bad_regex_is_a_value_error() -> None:
    with pytest.raises(OperatorValueError, match=r"'\(\[' is not a valid regular expression"):
        compile_comparison("matches", "([")


# --- numbers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "actual", "expected"),
    [
        ("gt", 3, True),
        ("gt", 2, False),
        ("gte", 2, True),
        ("gte", 1.5, False),
        ("lt", 1, True),
        ("lt", 2, False),
        ("lte", 2, True),
        ("lte", 2.5, False),
        ("gt", "3", True),  # a numeric custom field may arrive as text
    ],
)
def test_numeric_comparisons(operator: str, actual: Any, expected: bool) -> None:
    assert holds(operator, 2, actual) is expected


@pytest.mark.parametrize("actual", [None, "many", True, [3]])
def test_numeric_comparisons_are_false_for_non_numbers(actual: Any) -> None:
    assert holds("gt", 0, actual) is False
    assert holds("lte", 100, actual) is False


# --- present / absent / changed ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "present"), [(None, False), ("", False), ([], False), ((), False), ("a", True), (0, True)]
)
def test_present_and_absent(actual: Any, present: bool) -> None:
    assert bool(compile_comparison("present")(actual)) is present
    assert bool(compile_comparison("absent")(actual)) is not present


@pytest.mark.parametrize("operator", ["present", "absent", "changed"])
def test_valueless_operators_refuse_a_value(operator: str) -> None:
    with pytest.raises(OperatorValueError, match=f"operator '{operator}' takes no value"):
        compile_comparison(operator, True)


# --- value shapes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("is", ["a"], "a single value"),
        ("is", {"a": 1}, "a single value"),
        ("in", "open", "a non-empty list of values"),
        ("in", [], "a non-empty list of values"),
        ("in", [["nested"]], "a non-empty list of values"),
        ("not_in", [{"a": 1}], "a non-empty list of values"),
        ("includes", {"a": 1}, "a value or a list of values"),
        ("includes", [[1]], "a value or a list of values"),
        ("excludes", None, "a value or a list of values"),
        ("gt", "3", "a number"),
        ("lte", True, "a number"),
        ("matches", 3, "a regular expression string"),
        ("matches", "", "a regular expression string"),
    ],
)
def test_value_shape_errors_say_what_was_expected(operator: str, value: Any, expected: str) -> None:
    with pytest.raises(OperatorValueError) as caught:
        compile_comparison(operator, value)
    assert str(caught.value).startswith(f"operator '{operator}' takes {expected}, not ")


@pytest.mark.parametrize("operator", sorted(set(OPERATORS) - {"present", "absent", "changed"}))
def test_every_operator_with_an_operand_needs_a_value(operator: str) -> None:
    with pytest.raises(OperatorValueError, match=f"operator '{operator}' needs a value"):
        compile_comparison(operator)


def test_shape_errors_show_values_as_json() -> None:
    with pytest.raises(OperatorValueError, match=r"not true$"):
        compile_comparison("gt", True)


def test_the_registry_names_match_their_keys() -> None:
    assert all(name == operator.name for name, operator in OPERATORS.items())
