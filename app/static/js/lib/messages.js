// The /ws/race wire messages as JSDoc types, for `make lint`'s TypeScript check (checkJs).
// They mirror app/web/messages.py (the pydantic models the server validates and answers with);
// tests/integration/test_static_checks.py keeps every typedef's fields equal to its model's.
// No code: importing this module for its types costs the page nothing (`import("./messages.js")`
// appears in JSDoc comments only).

// ---------------------------------------------------------------- client -> server

/**
 * @typedef {object} StartSettings
 * @property {string | null} [dataset]
 * @property {number | null} [seed]
 * @property {number | null} [theta]
 * @property {number | null} [learning_rate]
 * @property {number | null} [steps]
 * @property {number | null} [speed] steps per frame
 */

/**
 * @typedef {object} Start
 * @property {"start"} type
 * @property {StartSettings} [settings]
 * @property {number | null} [at_step] begin paused at this step (a restore after a reconnect)
 */
/** @typedef {{type: "pause"}} Pause */
/** @typedef {{type: "resume"}} Resume */
/** @typedef {{type: "step"}} Step */
/** @typedef {{type: "reset"}} Reset */
/**
 * @typedef {object} Speed
 * @property {"speed"} type
 * @property {number} steps_per_frame
 */
/**
 * @typedef {object} Infer
 * @property {"infer"} type
 * @property {number} x
 * @property {number} y
 */
/** @typedef {Start | Pause | Resume | Step | Reset | Speed | Infer} ClientMessage */

// Client -> server on /ws/digits (app/web/digits_session.py: DigitsStart, DigitsInfer; the controls
// are the race's). Named ...Message here because Start and Infer are the race's.
/**
 * What a reader may choose for a live digits run (DigitsStartSettings; ranges are the engine's).
 * @typedef {object} DigitsStartSettings
 * @property {number | null} [seed]
 * @property {string | null} [negatives] one of the engine's negative modes
 */
/**
 * @typedef {object} DigitsStartMessage
 * @property {"start"} type
 * @property {DigitsStartSettings} [settings]
 * @property {number | null} [at_step] begin paused at this step (minibatches done)
 */
/**
 * A drawn digit (strokes: polylines of [x, y] in [0, 1]) or a held-out digit's index: exactly one.
 * @typedef {object} DigitsInferMessage
 * @property {"infer"} type
 * @property {Array<Array<[number, number]>> | null} [strokes]
 * @property {number | null} [heldout]
 */
/** @typedef {DigitsStartMessage | Pause | Resume | Step | Reset | DigitsInferMessage} DigitsClientMessage */

// ---------------------------------------------------------------- server -> client

/**
 * @typedef {object} ResolvedSettings
 * @property {string} dataset
 * @property {number} seed
 * @property {number} theta
 * @property {number} learning_rate
 * @property {number} steps
 * @property {number} speed
 */
/**
 * @typedef {object} RaceInfo sent after start and reset: what the canvases need before the first frame
 * @property {"race"} type
 * @property {ResolvedSettings} settings
 * @property {string[]} classes what each class is on this data set, index = label
 * @property {[number, number, number, number]} extent
 * @property {number} grid_size
 * @property {[number, number, number][]} train (x, y, label) of every training point
 */
/**
 * @typedef {object} NetMetrics
 * @property {number} train_accuracy
 * @property {number} test_accuracy
 * @property {number} loss
 */
/**
 * @typedef {object} FFMetrics
 * @property {number} train_accuracy
 * @property {number} test_accuracy
 * @property {number} loss
 * @property {number[]} layer_test_accuracy per layer: held-out accuracy with that layer alone deciding
 */
/**
 * @typedef {object} Goodness
 * @property {number[]} positive
 * @property {number[]} negative
 */
/**
 * @typedef {object} Grid
 * @property {number} size
 * @property {string} ff base64 of size*size uint8, P(class A)*255, row-major, row 0 at the top
 * @property {string} backprop
 */
/**
 * @typedef {object} LayerMaps
 * @property {number} size
 * @property {number} scale the goodness a byte of 255 stands for, shared by every map
 * @property {string[][]} goodness [layer][label]: base64 of size*size uint8, G/scale*255
 */
/**
 * @typedef {object} Frame
 * @property {"frame"} type
 * @property {number} step
 * @property {number} steps
 * @property {FFMetrics} ff
 * @property {NetMetrics} backprop
 * @property {Goodness} goodness
 * @property {Grid} grid
 * @property {LayerMaps} layers
 */
/**
 * @typedef {object} State
 * @property {"state"} type
 * @property {boolean} running
 * @property {number} step
 * @property {number} steps
 * @property {number} speed
 * @property {boolean} done
 */
/**
 * @typedef {object} FFInference
 * @property {number[][]} goodness
 * @property {number[]} totals
 * @property {number} label
 * @property {number[]} layers_summed 0-based layers whose goodness the totals add up
 */
/**
 * @typedef {object} BackpropInference
 * @property {number[]} probabilities
 * @property {number} label
 */
/**
 * @typedef {object} Inference
 * @property {"inference"} type
 * @property {number} x
 * @property {number} y
 * @property {number} step
 * @property {FFInference} ff
 * @property {BackpropInference} backprop
 */
/**
 * @typedef {"bad_json" | "unknown_type" | "bad_message" | "bad_settings" | "not_text" | "not_started"
 *   | "busy" | "too_big" | "rate_limited" | "at_capacity" | "idle" | "internal"} ErrorCode
 */
/**
 * @typedef {object} ErrorMessage the `error` message (named so as not to hide the global Error)
 * @property {"error"} type
 * @property {ErrorCode} code
 * @property {string} message
 */
/** @typedef {RaceInfo | Frame | State | Inference | ErrorMessage} ServerMessage */

export {};
