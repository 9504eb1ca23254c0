// The race's buttons and settings form: reads and validates what the reader chose (the bounds
// are the server's, rendered into the inputs' min/max), and reflects the race state on the buttons.

// steps is a hidden input: not editable here, but part of the run a link or an embed reproduces.
const NUMERIC = { seed: "int", theta: "float", learning_rate: "float", steps: "int", speed: "int" };

export class Controls {
  /**
   * handlers: {train(settings), pause(), step(settings), reset(settings), speed(stepsPerFrame)}
   * Each receives validated settings; invalid ones are reported next to the form instead.
   */
  constructor(root, handlers) {
    this.root = root;
    this.form = root.querySelector('[data-ref="form"]');
    this.error = root.querySelector('[data-ref="form-error"]');
    this.hint = root.querySelector('[data-ref="settings-hint"]');
    this.speedValue = root.querySelector('[data-ref="speed-value"]');
    this.buttons = Object.fromEntries(
      [...root.querySelectorAll("[data-action]")].map((b) => [b.dataset.action, b]));
    this.handlers = handlers;
    this.applied = null; // the settings of the race on the server, to notice edits

    this.form.addEventListener("submit", (event) => {
      event.preventDefault(); // Enter in a field, or the Train button
      this.fire("train");
    });
    for (const action of ["pause", "step", "reset"]) {
      this.buttons[action].addEventListener("click", () => this.fire(action));
    }
    const speed = this.form.elements.speed;
    speed.addEventListener("input", () => {
      this.speedValue.textContent = speed.value;
      // Speed changes the pace of the race in progress, not the race, so it applies at once.
      const settings = this.read();
      if (settings) handlers.speed(settings.speed);
    });
    this.form.addEventListener("input", () => this.updateHint());
  }

  fire(action) {
    // aria-disabled (not disabled) keeps a pressed button focused, so keyboard readers don't
    // lose their place when Train turns into "running"; the click is simply ignored.
    if (this.buttons[action].getAttribute("aria-disabled") === "true") return;
    const settings = action === "pause" ? {} : this.read();
    if (!settings) return;
    this.handlers[action](settings);
  }

  /** The form's settings, or null (with the problem shown) when one is out of bounds. */
  read() {
    const settings = {};
    for (const element of this.form.elements) {
      if (!element.name) continue;
      const kind = NUMERIC[element.name];
      if (!kind) {
        settings[element.name] = element.value;
        continue;
      }
      const value = Number(element.value);
      const min = element.min === "" ? -Infinity : Number(element.min);
      const max = element.max === "" ? Infinity : Number(element.max);
      const label = this.form.querySelector(`label[for="${element.id}"]`)?.firstChild.textContent.trim();
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

  showError(message, element = null) {
    this.error.textContent = message;
    this.error.hidden = !message;
    for (const input of this.form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    if (element) {
      element.setAttribute("aria-invalid", "true");
      element.focus();
    }
  }

  /** Put settings (e.g. the server's echo) into the form. */
  write(settings) {
    for (const [name, value] of Object.entries(settings)) {
      const element = this.form.elements[name];
      if (element && value !== undefined && value !== null) element.value = String(value);
    }
    this.speedValue.textContent = this.form.elements.speed.value;
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
