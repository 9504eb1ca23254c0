// The race's buttons and settings: reads and validates what the reader chose (the bounds are the
// server's, rendered into the inputs' min/max), and reflects the race state on the buttons. There is
// no <form> to submit: Enter in a field presses Train, like every other press, through its click.

// steps is a hidden input: not editable here, but part of the run a link or an embed reproduces.
const NUMERIC = { seed: "int", theta: "float", learning_rate: "float", steps: "int", speed: "int" };

export class Controls {
  /**
   * handlers: {train(settings), pause(), step(settings), reset(settings), speed(stepsPerFrame)}
   * Each receives validated settings; invalid ones are reported next to the fields instead.
   * onPress(action): after a press by the reader (a click, a tap, Enter) was carried out.
   */
  /**
   * @param {*} root
   * @param {*} handlers
   * @param {{onPress?: (action: string) => void}} [options]
   */
  constructor(root, handlers, { onPress = () => {} } = {}) {
    this.root = root;
    this.fields = root.querySelector('[data-ref="settings"]');  // a fieldset: .elements as a form's
    this.error = root.querySelector('[data-ref="form-error"]');
    this.hint = root.querySelector('[data-ref="settings-hint"]');
    this.speedValue = root.querySelector('[data-ref="speed-value"]');
    this.buttons = Object.fromEntries(
      [...root.querySelectorAll("[data-action]")].map((b) => [b.dataset.action, b]));
    this.handlers = handlers;
    this.applied = null; // the settings of the race on the server, to notice edits

    for (const action of ["train", "pause", "step", "reset"]) {
      this.buttons[action].addEventListener("click", () => {
        if (this.fire(action)) onPress(action);
      });
    }
    this.fields.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.target.tagName !== "INPUT") return;
      event.preventDefault();
      this.buttons.train.click();  // the same path as a press, so a held press is held the same way
    });
    const speed = this.fields.elements.speed;
    speed.addEventListener("input", () => {
      this.speedValue.textContent = speed.value;
      // Speed changes the pace of the race in progress, not the race, so it applies at once.
      const settings = this.read();
      if (settings) handlers.speed(settings.speed);
    });
    this.fields.addEventListener("input", () => this.updateHint());
  }

  /** Carry out an action if its button allows it now; true when it was carried out. */
  fire(action) {
    // aria-disabled (not disabled) keeps a pressed button focused, so keyboard readers don't
    // lose their place when Train turns into "running"; the click is simply ignored.
    if (this.buttons[action].getAttribute("aria-disabled") === "true") return false;
    const settings = action === "pause" ? {} : this.read();
    if (!settings) return false;
    this.handlers[action](settings);
    return true;
  }

  /** The settings, or null (with the problem shown) when one is out of bounds. */
  read() {
    const settings = {};
    for (const element of this.fields.elements) {
      if (!element.name) continue;
      const kind = NUMERIC[element.name];
      if (!kind) {
        settings[element.name] = element.value;
        continue;
      }
      const value = Number(element.value);
      const min = element.min === "" ? -Infinity : Number(element.min);
      const max = element.max === "" ? Infinity : Number(element.max);
      const label = this.root.querySelector(`label[for="${element.id}"]`)?.firstChild.textContent.trim();
      if (element.value.trim() === "" || !Number.isFinite(value) || value < min || value > max
          || (kind === "int" && !Number.isInteger(value))) {
        const what = kind === "int" ? "a whole number" : "a number";
        this.showError(`${label} must be ${what} from ${element.min} to ${element.max}.`, element);
        return null;
      }
      settings[element.name] = value;
    }
    this.showError("");
    return settings;
  }

  /** @param {HTMLElement | null} [element] */
  showError(message, element = null) {
    this.error.textContent = message;
    this.error.hidden = !message;
    for (const input of this.fields.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    if (element) {
      element.setAttribute("aria-invalid", "true");
      element.focus();
    }
  }

  /** Put settings (e.g. the server's echo) into the fields. */
  write(settings) {
    for (const [name, value] of Object.entries(settings)) {
      const element = this.fields.elements[name];
      if (element && value !== undefined && value !== null) element.value = String(value);
    }
    this.speedValue.textContent = this.fields.elements.speed.value;
  }

  /** Remember what the server is running, so edits can be flagged as "press Train to apply". */
  setApplied(settings) {
    this.applied = { ...settings };
    this.updateHint();
  }

  /** True when a race-defining setting differs from the race on the server. */
  changed() {
    if (!this.applied) return false;
    const now = this.read();
    if (!now) return false;
    return ["dataset", "seed", "theta", "learning_rate"].some(
      (name) => name in this.applied && String(now[name]) !== String(this.applied[name]));
  }

  updateHint() {
    const changed = this.changed();
    this.hint.textContent = changed ? "(changed: press Train or Reset to start a new race)" : "";
    if (this.phase) this.setState(this.phase, { online: this.online, changed });
  }

  /** phase: "idle" (no race yet), "running", "paused", "finished"; offline disables all. */
  setState(phase, { online = this.online ?? true, changed = this.changed() } = {}) {
    this.phase = phase;
    this.online = online;
    const enabled = {
      train: phase !== "running" || changed,
      pause: phase === "running",
      step: phase !== "finished",
      reset: phase !== "idle",
    };
    for (const [action, button] of Object.entries(this.buttons)) {
      button.setAttribute("aria-disabled", String(!(online && enabled[action])));
    }
    this.root.dataset.phase = phase;
  }
}
