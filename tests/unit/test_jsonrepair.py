"""Recovering a JSON object from what LLMs (local ones especially) actually reply."""

from __future__ import annotations

import pytest

from memsvc.algorithms.jsonrepair import extract_json_object, repair, top_level_objects


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('  {"a": [1, 2]}\n', {"a": [1, 2]}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('```\n{"a": 1}\n```', {"a": 1}),
        ('Sure! Here is the JSON:\n```json\n{"a": "x"}\n```\nHope it helps.', {"a": "x"}),
        ('The answer is {"a": 1, "b": {"c": 2}} as requested.', {"a": 1, "b": {"c": 2}}),
        ('{"a": 1, "b": [1, 2,],}', {"a": 1, "b": [1, 2]}),
        ("{'a': 'single', 'b': 2}", {"a": "single", "b": 2}),
        ("{'a': True, 'b': None, 'c': False}", {"a": True, "b": None, "c": False}),
        (
            '{"text": "braces } and { inside, and a comma ,}"}',
            {"text": "braces } and { inside, and a comma ,}"},
        ),
        ("{'q': 'say \"hi\"'}", {"q": 'say "hi"'}),
        ('{"s": "it\'s fine", "n": 1,}', {"s": "it's fine", "n": 1}),
        ('I think {maybe} this: {"a": 1}', {"a": 1}),
        ('{"a": "True stays a string"}', {"a": "True stays a string"}),
    ],
)
def test_extracts_and_repairs(reply, expected):
    assert extract_json_object(reply) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "no json here",
        "[1, 2, 3]",  # not an object
        '{"a": 1',  # cut off
        '"just a string"',
        "{not: json at all}",
    ],
)
def test_gives_none_when_there_is_no_object(reply):
    assert extract_json_object(reply) is None


def test_top_level_objects_ignores_braces_in_strings():
    text = 'x {"a": "}"} y {"b": {"c": 1}} z {"cut": '
    assert top_level_objects(text) == ['{"a": "}"}', '{"b": {"c": 1}}']


def test_repair_is_minimal():
    # valid JSON is left as it is
    assert repair('{"a": [1, 2], "b": "x, ]"}') == '{"a": [1, 2], "b": "x, ]"}'
    assert repair("{'a': 1,\n}") == '{"a": 1\n}'
    assert repair("[1, 2, ]") == "[1, 2 ]"


def test_schema_instruction_joins_an_existing_system_message():
    from pydantic import BaseModel

    from memsvc.models.llm import with_schema_instruction

    class Out(BaseModel):
        x: int

    plain = with_schema_instruction([{"role": "user", "content": "hi"}], Out)
    assert [m["role"] for m in plain] == ["system", "user"]
    assert '"x"' in plain[0]["content"] and "JSON" in plain[0]["content"]
    joined = with_schema_instruction(
        [{"role": "system", "content": "You extract facts."}, {"role": "user", "content": "hi"}],
        Out,
    )
    assert [m["role"] for m in joined] == ["system", "user"]
    assert joined[0]["content"].startswith("You extract facts.\n\n")
