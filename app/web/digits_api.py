"""The drawing pad's HTTP side: the ready network reads a drawn (or held-out) digit, and the strip's
held-out digits for the page. The reader's own live run answers over /ws/digits instead."""

from __future__ import annotations

from fastapi import HTTPException, Request
from pydantic import ValidationError

from app.engine.digits_ready import ready_run
from app.engine.mnist import CREDIT
from app.web.api import BUSY, bounded_body, in_worker
from app.web.digits_live import DigitAnswer, DigitQuery, answer, heldout_digits, inference_payload
from app.web.digits_session import DigitFields, digit_query
from app.web.routing import CUT_SHORT, Router, detail

router = Router(prefix="/api/digits", tags=["api"])


class DigitsInferRequest(DigitFields):
    """The socket's `infer` message without its `type`."""


def ready_answer(query: DigitQuery) -> DigitAnswer:
    return answer(ready_run(), query)


def first_problem(invalid: ValidationError) -> str:
    problem = invalid.errors(include_url=False, include_input=False, include_context=False)[0]
    where = ".".join(str(part) for part in problem["loc"]) or "body"
    message = str(problem["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}."


@router.post(
    "/infer",
    responses={
        **CUT_SHORT,
        413: detail("The body is over FF_MAX_DRAWING_BYTES."),
        422: detail(
            "Not a readable digit: bad JSON, wrong types, an empty drawing, a point off the pad, too many "
            "strokes or points (the detail is one sentence saying which)."
        ),
        **BUSY,
    },
)
async def infer(request: Request) -> dict:
    """The ready network's answer for a drawn digit ({"strokes": [[[x, y], ...], ...]}, coordinates in
    [0, 1], x right, y down) or a held-out digit ({"heldout": i}, 0-999): the 28x28 image the nets
    received, FF's goodness per label and layer with totals and winner, backprop's softmax."""
    body = await bounded_body(request, request.app.state.settings.max_drawing_bytes)
    try:
        message = DigitsInferRequest.model_validate_json(body or b"{}")
    except ValidationError as invalid:
        raise HTTPException(422, first_problem(invalid)) from None
    try:
        query = digit_query(message)
    except ValueError as invalid:
        raise HTTPException(422, f"{str(invalid)[:1].upper()}{str(invalid)[1:]}.") from None
    result = await in_worker(request, ready_answer, query)
    return inference_payload(result, None, "ready")


@router.get("/heldout")
async def heldout() -> dict:
    """The strip's 20 held-out digits (two of each class): index in the 1,000, label, and the image
    as base64 of 784 uint8 (row-major, 0 = background)."""
    return {"digits": heldout_digits(), "credit": CREDIT}
