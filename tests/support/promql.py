"""Metric names in PromQL expressions, and metric names a ``/metrics`` page exposes.

A small lexer, not a parser: it blanks string literals, label matchers, range brackets
and grouping clauses (``by (...)``, ``on (...)``, ...), then keeps the identifiers that
are not function calls, keywords or parts of numbers. That covers the expressions in
our dashboard and alert rules; the real parser (Prometheus) checks their syntax.
"""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.$])([A-Za-z_:][\w:]*)(?=\s*(\(?))")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "atan2",
        "inf",
        "nan",
    }
)
_FAMILY_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}


def metric_names(expression: str) -> set[str]:
    """Returns the names of the metrics that a PromQL expression selects."""
    text = _STRING.sub('""', expression)
    text = _MATCHERS.sub("{}", text)
    text = _RANGE.sub("[]", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def exposed_names(metrics_text: str) -> tuple[set[str], set[str]]:
    """Names in a ``/metrics`` page: those with samples, and those merely declared.

    Returns:
        (sample names present, sample names of declared families that have no samples
        yet, e.g. a labelled counter nothing has incremented).
    """
    present, declared = set(), set()
    for family in text_string_to_metric_families(metrics_text):
        present.update(sample.name for sample in family.samples)
        suffixes = _FAMILY_SUFFIXES.get(family.type, ("",))
        declared.update(family.name + suffix for suffix in suffixes)
    return present, declared - present
