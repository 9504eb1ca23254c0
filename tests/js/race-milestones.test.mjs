// The race's milestones (app/static/js/widgets/race/describe.js) announce the engine's "steps to
// target": a net reaching the server's target accuracy on its TRAINING points, the same definition
// as app/engine/race.py run_to_end and the scorecard. Held-out accuracy must not trigger it.
// And the figure's server values (lib/server-values.js) are read with no fallback.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Milestones } from "../../app/static/js/widgets/race/describe.js";
import { serverJSON, serverNumber, serverText } from "../../app/static/js/lib/server-values.js";

const TARGET = 0.95;

function frame(step, ff, backprop, steps = 900) {
  return { step, steps, ff, backprop };
}

const net = (train_accuracy, test_accuracy) => ({ train_accuracy, test_accuracy, loss: 0.1 });

function listen(target = TARGET) {
  const said = [];
  return { said, milestones: new Milestones((text) => said.push(text), target) };
}

describe("the milestone announcement", () => {
  it("fires when a net's training accuracy reaches the target", () => {
    const { said, milestones } = listen();
    milestones.frame(frame(10, net(0.9, 0.9), net(0.94, 0.9)));
    assert.deepEqual(said, []);
    milestones.frame(frame(11, net(0.9, 0.9), net(TARGET, 0.9)));
    assert.deepEqual(said, ["Backprop reached 95.0% accuracy on its training points at step 11."]);
  });

  it("ignores held-out accuracy: a net past the target only on held-out points has not reached it", () => {
    const { said, milestones } = listen();
    milestones.frame(frame(5, net(0.94, 0.99), net(0.5, 1.0)));
    assert.deepEqual(said, []);
    milestones.frame(frame(6, net(0.96, 0.2), net(0.5, 1.0)));
    assert.deepEqual(said, ["Forward-Forward reached 95.0% accuracy on its training points at step 6."]);
  });

  it("uses the target it was given (the server's), and says each net's once", () => {
    const { said, milestones } = listen(0.8);
    milestones.frame(frame(3, net(0.81, 0.1), net(0.79, 0.1)));
    milestones.frame(frame(4, net(0.9, 0.1), net(0.85, 0.1)));
    milestones.frame(frame(5, net(0.95, 0.1), net(0.99, 0.1)));
    assert.deepEqual(said, [
      "Forward-Forward reached 80.0% accuracy on its training points at step 3.",
      "Backprop reached 80.0% accuracy on its training points at step 4.",
    ]);
  });
});

describe("the figure's server values", () => {
  const root = (dataset) => /** @type {any} */ ({ dataset });

  it("are read as the server wrote them", () => {
    const figure = root({ steps: "900", targetAccuracy: "0.95", linkedSettings: '["dataset","seed"]' });
    assert.equal(serverNumber(figure, "steps"), 900);
    assert.equal(serverNumber(figure, "targetAccuracy"), 0.95);
    assert.deepEqual(serverJSON(figure, "linkedSettings"), ["dataset", "seed"]);
    assert.equal(serverText(figure, "steps"), "900");
  });

  it("fail loudly when missing or not a number, with no fallback", () => {
    assert.throws(() => serverNumber(root({}), "targetAccuracy"), /data-target-accuracy/);
    assert.throws(() => serverNumber(root({ steps: "" }), "steps"), /data-steps/);
    assert.throws(() => serverNumber(root({ steps: "many" }), "steps"), /not a number/);
    assert.throws(() => serverJSON(root({}), "linkedSettings"), /data-linked-settings/);
  });
});
