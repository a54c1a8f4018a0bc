"""Flag rules are validated on save: bad and catastrophic patterns are refused with a message."""

import pytest
from django.core.exceptions import ValidationError

from audit.models import FlagRule
from audit.rules import RuleTimeout, rule_pattern_validate, rule_spans_find

pytestmark = pytest.mark.django_db


def test_it_refuses_an_invalid_regex():
    with pytest.raises(ValidationError, match="Invalid regular expression"):
        FlagRule.objects.create(name="bad", kind="regex", pattern="(unclosed")


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(\w*)*x", r"(x{1,5})+y"])
def test_it_refuses_nested_quantifiers(pattern):
    with pytest.raises(ValidationError, match="catastrophic backtracking"):
        FlagRule.objects.create(name="slow", kind="regex", pattern=pattern)


def test_it_refuses_a_pattern_that_is_slow_on_long_input():
    # No nested quantifier in sight, still exponential: caught by running it with a time limit.
    with pytest.raises(ValueError, match="too slow"):
        rule_pattern_validate(kind="regex", pattern=r"(a|aa)+b")


def test_it_refuses_a_pattern_that_matches_empty_text():
    with pytest.raises(ValidationError, match="empty text"):
        FlagRule.objects.create(name="empty", kind="regex", pattern=r"x?")


def test_it_refuses_an_empty_keyword_list():
    with pytest.raises(ValidationError, match="at least one keyword"):
        FlagRule.objects.create(name="none", kind="keywords", pattern="\n  \n")


def test_it_accepts_ordinary_rules():
    FlagRule.objects.create(name="regex", kind="regex", pattern=r"\bproject\s+(falcon|osprey)\b")
    FlagRule.objects.create(name="words", kind="keywords", pattern="C++\nnet.sales")
    assert FlagRule.objects.count() == 2


def test_keywords_match_whole_words_case_insensitively():
    spans = rule_spans_find(
        kind="keywords",
        pattern="C++\nsales",
        case_sensitive=False,
        text="Sales of C++ books, not wholesales",
        label="k",
    )
    assert [(s.start, s.end) for s in spans] == [(0, 5), (9, 12)]


def test_a_slow_match_at_run_time_raises_a_timeout_instead_of_hanging(settings):
    settings.REVIEW_RULE_TIMEOUT_SECONDS = 0.05
    with pytest.raises(RuleTimeout):
        rule_spans_find(
            kind="regex", pattern=r"(a|aa)+b", case_sensitive=False, text="a" * 200 + "!", label="k"
        )
