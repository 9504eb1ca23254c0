"""The /ws/race wire protocol as pydantic models: what a client may send and what the server answers."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

# Coordinates a click may name: the data live in about [-2, 2]; anything this far out is a bug
# or an attack, and refusing it keeps NaN/inf and float overflow away from the engine.
COORDINATE_LIMIT = 1000.0


class Strict(BaseModel):
    # Unknown fields are an error (a typo such as "learning-rate" must not be silently ignored);
    # NaN and infinity are never valid numbers on this wire; and a value of the wrong JSON type is
    # refused, never converted (pydantic's strict mode: `true` and `"42"` are not integers, `"1e2"`
    # is not a number; an integer is a valid number). Validate wire text with validate_json: in
    # Python mode strict also refuses a list where a tuple is declared.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


# ---------------------------------------------------------------------------- client -> server


class StartSettings(Strict):
    """Race settings a client may choose; omitted ones take the article's defaults.

    Types are checked here; ranges are the engine's (RaceSettings) and the server's (speed)."""

    dataset: str | None = Field(None, max_length=32)
    seed: int | None = None
    theta: float | None = None
    learning_rate: float | None = None
    steps: int | None = None
    speed: int | None = Field(None, description="steps per frame")


class Start(Strict):
    type: Literal["start"]
    settings: StartSettings = Field(default_factory=StartSettings)
    # A page restoring a race after a reconnect: begin paused at exactly this step (0..steps).
    at_step: int | None = Field(None, ge=0, description="begin paused at this step")


class Pause(Strict):
    type: Literal["pause"]


class Resume(Strict):
    type: Literal["resume"]


class Step(Strict):
    type: Literal["step"]


class Reset(Strict):
    type: Literal["reset"]


class Speed(Strict):
    type: Literal["speed"]
    steps_per_frame: int


class Infer(Strict):
    type: Literal["infer"]
    x: float = Field(ge=-COORDINATE_LIMIT, le=COORDINATE_LIMIT)
    y: float = Field(ge=-COORDINATE_LIMIT, le=COORDINATE_LIMIT)


ClientMessage = Annotated[Start | Pause | Resume | Step | Reset | Speed | Infer, Field(discriminator="type")]
CLIENT_MESSAGES = (Start, Pause, Resume, Step, Reset, Speed, Infer)
client_message_adapter: TypeAdapter = TypeAdapter(ClientMessage)
CLIENT_TYPES = tuple(get_args(model.model_fields["type"].annotation)[0] for model in CLIENT_MESSAGES)


# ---------------------------------------------------------------------------- server -> client


class ResolvedSettings(Strict):
    dataset: str
    seed: int
    theta: float
    learning_rate: float
    steps: int
    speed: int


class RaceInfo(Strict):
    """Sent after start and reset: what the canvases need before the first frame."""

    type: Literal["race"]
    settings: ResolvedSettings
    classes: list[str] = Field(description="what each class is on this data set, index = label")
    extent: tuple[float, float, float, float]
    grid_size: int
    train: list[tuple[float, float, int]]


class NetMetrics(Strict):
    train_accuracy: float
    test_accuracy: float
    loss: float


class FFMetrics(NetMetrics):
    layer_test_accuracy: list[float] = Field(
        description="per layer: held-out accuracy when that layer's goodness alone decides"
    )


class Goodness(Strict):
    positive: list[float]
    negative: list[float]


class Grid(Strict):
    size: int
    ff: str = Field(description="base64 of size*size uint8, P(class A)*255, row-major, row 0 at the top")
    backprop: str


class LayerMaps(Strict):
    size: int
    scale: float = Field(description="the goodness a byte of 255 stands for, shared by every map")
    goodness: list[list[str]] = Field(
        description="[layer][label]: base64 of size*size uint8, G/scale*255, oriented as grid"
    )


class Frame(Strict):
    type: Literal["frame"]
    step: int
    steps: int
    ff: FFMetrics
    backprop: NetMetrics
    goodness: Goodness
    grid: Grid
    layers: LayerMaps


class State(Strict):
    type: Literal["state"]
    running: bool
    step: int
    steps: int
    speed: int
    done: bool


class FFInference(Strict):
    goodness: list[list[float]]
    totals: list[float]
    label: int
    layers_summed: list[int] = Field(description="0-based layers whose goodness the totals add up")


class BackpropInference(Strict):
    probabilities: list[float]
    label: int


class Inference(Strict):
    type: Literal["inference"]
    x: float
    y: float
    step: int
    ff: FFInference
    backprop: BackpropInference


class ErrorCode(StrEnum):
    bad_json = "bad_json"  # not JSON, or not a JSON object
    unknown_type = "unknown_type"  # `type` missing or not one of CLIENT_TYPES
    bad_message = "bad_message"  # a known type with wrong, missing or extra fields
    bad_settings = "bad_settings"  # start/speed settings out of range
    not_text = "not_text"  # a binary websocket message: the protocol is JSON text only
    not_started = "not_started"  # a control or infer before any start
    busy = "busy"  # the client is past its compute budget: this request waits its turn
    too_big = "too_big"  # inbound message over the size limit (then close 1009)
    rate_limited = "rate_limited"  # flood (then close 1008)
    at_capacity = "at_capacity"  # session caps reached (then close 1013)
    idle = "idle"  # idle timeout (then close 1001)
    internal = "internal"  # the server failed on this request; the session lives on


class Error(Strict):
    type: Literal["error"]
    code: ErrorCode
    message: str


ServerMessage = Annotated[RaceInfo | Frame | State | Inference | Error, Field(discriminator="type")]
SERVER_MESSAGES = (RaceInfo, Frame, State, Inference, Error)
server_message_adapter: TypeAdapter = TypeAdapter(ServerMessage)


def error_text(code: ErrorCode, message: str) -> str:
    return Error(type="error", code=code, message=message).model_dump_json()
