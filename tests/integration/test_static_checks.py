"""What the static checks rely on stays true: the JSDoc wire types that TypeScript checks the page
against (app/static/js/lib/messages.js) name exactly the fields of the server's pydantic models, on
/ws/race (app/web/messages.py) and on /ws/digits (app/web/digits_session.py)."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from app.web import digits_session, messages

MESSAGES_JS = Path(__file__).parents[2] / "app" / "static" / "js" / "lib" / "messages.js"
JS_NAME = {
    "Error": "ErrorMessage",  # the global Error would be hidden by a typedef of that name
    # The digits socket's own messages: Start and Infer are already the race's names.
    "DigitsStart": "DigitsStartMessage",
    "DigitsInfer": "DigitsInferMessage",
}
ALL_MESSAGES = messages.CLIENT_MESSAGES + messages.SERVER_MESSAGES + digits_session.DIGITS_CLIENT_MESSAGES


def js_name(model: type[BaseModel]) -> str:
    return JS_NAME.get(model.__name__, model.__name__)


def js_typedefs() -> dict[str, set[str]]:
    """{typedef name: its property names} for the object typedefs of messages.js."""
    text = MESSAGES_JS.read_text()
    found: dict[str, set[str]] = {}
    for block in re.findall(r"/\*\*(.*?)\*/", text, re.S):
        inline = re.search(r"@typedef \{\{(.*?)\}\} (\w+)", block)
        if inline:
            found[inline.group(2)] = set(re.findall(r"(\w+):", inline.group(1)))
            continue
        named = re.search(r"@typedef \{object\} (\w+)", block)
        if named:
            found[named.group(1)] = set(re.findall(r"@property \{.*?\} \[?(\w+)", block))
    return found


def wire_models() -> set[type[BaseModel]]:
    """Every model a wire message is made of: the messages and the models nested in them."""
    seen: set[type[BaseModel]] = set()
    todo = list(ALL_MESSAGES)
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            for kind in [field.annotation, *typing.get_args(field.annotation)]:
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    todo.append(kind)
    return seen


def test_every_wire_model_has_a_typedef_with_its_fields():
    typedefs = js_typedefs()
    models = wire_models()
    assert len(models) >= 22  # 7 client messages, 5 server messages and their parts; 2 + 1 for digits
    assert {digits_session.DigitsStart, digits_session.DigitsStartSettings, digits_session.DigitsInfer} <= models
    for model in models:
        name = js_name(model)
        assert name in typedefs, f"app/static/js/lib/messages.js has no typedef {name}"
        assert typedefs[name] == set(model.model_fields), (name, typedefs[name] ^ set(model.model_fields))


def test_the_error_codes_are_the_servers():
    union = re.search(r"@typedef \{(\"[^}]*)\} ErrorCode", MESSAGES_JS.read_text(), re.S)
    assert union is not None
    assert set(re.findall(r'"(\w+)"', union.group(1))) == {code.value for code in messages.ErrorCode}


def test_the_message_unions_name_every_message():
    text = MESSAGES_JS.read_text()
    for union, models in (
        ("ClientMessage", messages.CLIENT_MESSAGES),
        ("ServerMessage", messages.SERVER_MESSAGES),
        ("DigitsClientMessage", digits_session.DIGITS_CLIENT_MESSAGES),
    ):
        members = re.search(r"@typedef \{([\w |]+)\} " + union + r"\b", text)
        assert members is not None, union
        assert {m.strip() for m in members.group(1).split("|")} == {js_name(m) for m in models}


def test_each_message_typedef_has_its_models_type():
    """{"type": ...} of every message typedef is its model's literal (start, infer, ...)."""
    text = MESSAGES_JS.read_text()
    for model in ALL_MESSAGES:
        (literal,) = typing.get_args(model.model_fields["type"].annotation)
        name = js_name(model)
        inline = re.search(r'@typedef \{\{type: "(\w+)"\}\} ' + name + r"\b", text)
        named = re.search(r"@typedef \{object\} " + name + r'\b(?:(?!\*/).)*?@property \{"(\w+)"\} type\b', text, re.S)
        found = inline or named
        assert found is not None, f"{name}: no type property"
        assert found.group(1) == literal, (name, found.group(1), literal)
