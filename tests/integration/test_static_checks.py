"""What the static checks rely on stays true: the JSDoc wire types that TypeScript checks the page
against (app/static/js/lib/messages.js) name exactly the fields of the server's pydantic models."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from app.web import messages

MESSAGES_JS = Path(__file__).parents[2] / "app" / "static" / "js" / "lib" / "messages.js"
JS_NAME = {"Error": "ErrorMessage"}  # the global Error would be hidden by a typedef of that name


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
    todo = list(messages.CLIENT_MESSAGES + messages.SERVER_MESSAGES)
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
    assert len(models) >= 19  # 7 client messages, 5 server messages and their parts
    for model in models:
        name = JS_NAME.get(model.__name__, model.__name__)
        assert name in typedefs, f"app/static/js/lib/messages.js has no typedef {name}"
        assert typedefs[name] == set(model.model_fields), (name, typedefs[name] ^ set(model.model_fields))


def test_the_error_codes_are_the_servers():
    union = re.search(r"@typedef \{(\"[^}]*)\} ErrorCode", MESSAGES_JS.read_text(), re.S)
    assert union is not None
    assert set(re.findall(r'"(\w+)"', union.group(1))) == {code.value for code in messages.ErrorCode}


def test_the_message_unions_name_every_message():
    text = MESSAGES_JS.read_text()
    for union, models in (("ClientMessage", messages.CLIENT_MESSAGES), ("ServerMessage", messages.SERVER_MESSAGES)):
        members = re.search(r"@typedef \{([\w |]+)\} " + union, text)
        assert members is not None, union
        assert {m.strip() for m in members.group(1).split("|")} == {JS_NAME.get(m.__name__, m.__name__) for m in models}
