"""The one settings table: every limit and knob of the server, read from FF_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The templates and static files are part of the package (app/templates, app/static), so a checkout,
# an installed wheel and the Docker image all find them without settings, from any directory.
PACKAGE_DIR = Path(__file__).resolve().parent

ENV_PREFIX = "FF_"


class Settings(BaseSettings):
    """Server settings. Each field's description is its README line (see settings_markdown)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # -- sessions ----------------------------------------------------------------------------
    sessions_total: int = Field(
        1000, ge=1, description="Live race websockets the process accepts; more are closed with 1013."
    )
    sessions_per_client: int = Field(
        8, ge=1, description="Live race websockets per client address; more are closed with 1013."
    )
    # -- inbound messages --------------------------------------------------------------------
    max_message_bytes: int = Field(
        4096,
        ge=64,
        description="Largest inbound websocket message (larger: close 1009) and API request body (larger: 413).",
    )
    max_drawing_bytes: int = Field(
        65536,
        ge=1024,
        description="Largest drawn digit: a /ws/digits message or a POST /api/digits/infer body "
        "(larger: close 1009 / 413). A drawing of the engine's 4,000-point limit fits.",
    )
    messages_per_second: int = Field(
        30, ge=1, description="Inbound messages allowed per second per connection; a flood closes with 1008."
    )
    # -- timeouts ----------------------------------------------------------------------------
    idle_timeout_s: float = Field(
        900.0,
        gt=0,
        description="Seconds without an inbound message, race not running, before the server closes (1001).",
    )
    slow_reader_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Seconds a race client may go without reading what it was sent (no answer to the "
        "server's delivery pings) while frames wait, before it is dropped (1008).",
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Seconds a client has to send a request's headers (from connecting, or from the "
        "request's first byte); slower ones get 408 and are disconnected.",
    )
    ping_interval_s: float = Field(
        20.0, gt=0, description="Websocket keep-alive ping interval (uvicorn); a peer silent as long again is dropped."
    )
    # -- streaming ---------------------------------------------------------------------------
    frame_rate: float = Field(20.0, gt=0, le=120, description="Frames per second streamed to each running race.")
    steps_per_frame: int = Field(
        4, ge=1, description="Engine steps per frame at normal speed (900 steps in about 11 s at 20 fps)."
    )
    max_steps_per_frame: int = Field(50, ge=1, description="Largest `speed` (steps per frame) a client may ask for.")
    cache_size: int = Field(
        16, ge=1, description="Runs the LRU frame cache keeps (a default run at normal speed holds about 1 MB)."
    )
    cache_frames_per_run: int = Field(
        1000, ge=1, description="Frames (about 4.5 KB each) one run keeps; later ones are computed, not kept."
    )
    engine_threads: int = Field(
        2,
        ge=1,
        description="Worker threads beside the event loop for the HTTP APIs' engine work, and the "
        "race's engine slots when FF_ENGINE_PROCESSES is 0.",
    )
    engine_processes: int = Field(
        2,
        ge=0,
        description="Engine worker processes that do every race's engine work (frames, replays, click "
        "inference), away from the event loop's GIL (0: in the engine threads). They exit with the server.",
    )
    frames_ahead: int = Field(
        10, ge=0, description="Frames a running race's run computes ahead of its client (0: each at its tick)."
    )
    send_window_bytes: int = Field(
        40960,
        ge=8192,
        description="Bytes a race client may have sent to it and not yet confirmed reading; past "
        "that its frames wait, replaced by the newest (about 1.4 s of lag for a client reading 30 KB/s).",
    )
    # -- fair share of the engine ------------------------------------------------------------
    compute_share: float = Field(
        0.1,
        gt=0,
        description="Engine seconds per second each open race adds to its client address's budget "
        "(a race needs about 0.03 at normal speed, 0.2 at top speed).",
    )
    compute_burst_s: float = Field(
        2.0,
        gt=0,
        description="Engine seconds each open race adds to what its client may use at once (a restore "
        "at step 5000 costs about 1); a client past its budget is told `busy` and waits behind everyone else.",
    )
    engine_slice_s: float = Field(
        0.02,
        gt=0,
        le=1.0,
        description="Longest stretch of engine work done for one turn; an engine process "
        "holds two turns (one running, one queued), so nobody waits behind another client's long job for "
        "more than two of these.",
    )
    # -- HTTP API bounds ---------------------------------------------------------------------
    goodness_max_actions: int = Field(32, ge=1, description="Most actions one POST /api/goodness may replay.")
    # -- security ----------------------------------------------------------------------------
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins (scheme://host[:port]) allowed to open /ws/race besides the server's own.",
    )
    public_origin: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins (scheme://host[:port]) readers use to reach this server, e.g. "
        "`https://ff.example.edu`; when set, /ws/race trusts these (and FF_ALLOWED_ORIGINS) instead of the "
        "request's Host header, and absolute URLs (embed snippets, oEmbed) use the first.",
    )
    allow_missing_origin: bool = Field(
        True, description="Accept websockets without an Origin header (non-browser clients; browsers always send one)."
    )
    frame_ancestors: str = Field(
        "'self'",
        description="CSP frame-ancestors of the article and the API: who may frame them (space-separated CSP sources).",
    )
    # The /embed/ pages exist to be framed by course sites we cannot list in advance; they hold no
    # login or private state, so being framed anywhere risks nothing (see README "Use it in your course").
    embed_frame_ancestors: str = Field(
        "*",
        description="CSP frame-ancestors of /embed/ pages: the course sites that may frame a widget "
        "(`*` any http(s) site; narrow with e.g. `https://moodle.example.edu https://*.instructure.com`).",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="Proxies whose X-Forwarded-For/-Proto uvicorn trusts (comma-separated, or *)."
    )
    # -- process -----------------------------------------------------------------------------
    drain_timeout_s: float = Field(
        20.0,
        gt=0,
        description="On SIGTERM the server stops listening, turns /readyz false, tells every race socket "
        "to reconnect (close 1012, the page restores its race on another replica) and waits this long for "
        "connections and requests to finish before cancelling them and stopping its engine processes.",
    )
    workers: int = Field(1, ge=1, description="uvicorn worker processes (`python -m app serve --workers` overrides).")
    templates_dir: Path = Field(PACKAGE_DIR / "templates", description="Directory of the Jinja2 templates.")
    static_dir: Path = Field(PACKAGE_DIR / "static", description="Directory served at /static.")

    @field_validator("allowed_origins", "public_origin", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @property
    def frame_interval_s(self) -> float:
        return 1.0 / self.frame_rate

    def speed_problem(self, speed: object) -> str | None:
        return speed_problem(speed, self.max_steps_per_frame)


def speed_problem(speed: object, top: int) -> str | None:
    """Why `speed` (steps per frame) is not one a client may ask for, or None when it is; the
    websocket and the embed query both answer with this sentence."""
    if isinstance(speed, int) and not isinstance(speed, bool) and 1 <= speed <= top:
        return None
    return f"speed must be an integer in [1, {top}]; got {speed!r}."


def _default_text(name: str, field: FieldInfo) -> str:
    default = field.get_default(call_default_factory=True)
    if isinstance(default, Path):
        try:
            return "<package>/" + str(default.relative_to(PACKAGE_DIR))
        except ValueError:
            return str(default)
    if isinstance(default, list):
        return ",".join(default) or "(empty)"
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def settings_markdown() -> str:
    """The README's settings table, generated from this module so the two cannot drift apart."""
    lines = ["| Environment variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = _default_text(name, field).replace("|", "\\|")
        lines.append(f"| `{ENV_PREFIX}{name.upper()}` | `{default}` | {field.description} |")
    return "\n".join(lines)
