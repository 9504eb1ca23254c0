// Mounts each widget on the page the first time it scrolls into view, and pauses or resumes
// it as it leaves or re-enters the viewport (Distill's d-figure habit). Until a widget is ready
// (its module loaded and, for the race, its socket open) a press on one of its buttons is held
// and carried out once it is, so no press is lost on a slow connection. In the article, each
// mounted widget also gets an Embed button (share.js); an embed page is already the embed.
import { addEmbedButton, keepLinkInStep } from "./lib/share.js";

const loaded = new WeakMap();
const inArticle = document.body.dataset.embedded === undefined;
const MOST_HELD = 20;  // presses kept per widget while it loads; a press beyond that is dropped

// A figure that could not start says so in the page, not only in the console.
const startError = (root) => root.querySelector(":scope > .widget-start-error");

function showStartError(root, error) {
  const message = startError(root) ?? document.createElement("p");
  message.className = "widget-status widget-start-error";
  message.setAttribute("role", "status");
  message.textContent = `This figure could not start (${error.message}). Reload the page to try again.`;
  root.append(message);
}

/** The button's name as the reader sees it ("Train", "10 steps"). */
function controlName(control) {
  return control.textContent.trim() || control.getAttribute("aria-label") || "that";
}

/**
 * Hold the presses on a widget's buttons ([data-action]) until it is ready. The templates render
 * those buttons disabled with a "Loading…" note, so a press before this script runs is visibly
 * refused rather than lost; from here on they take presses, and the note says which are waiting.
 */
function holdPresses(root) {
  const held = [];
  const note = root.querySelector("[data-loading-note]");
  for (const control of root.querySelectorAll("[data-awaits-script]")) {
    control.disabled = false;
    control.removeAttribute("data-awaits-script");
  }
  // Capture phase on the figure: runs before the widget's own click handlers, if it has any yet.
  root.addEventListener("click", (event) => {
    if (root.dataset.ready === "true") return;
    const control = event.target.closest?.("[data-action]");
    if (!control || !root.contains(control)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (held.length < MOST_HELD) held.push(control);
    if (note) note.textContent = `Loading… “${controlName(control)}” will happen as soon as this figure is ready.`;
  }, true);
  return {
    /** The widget is ready: carry out the held presses, in the order they were made. */
    release() {
      for (const control of held.splice(0)) control.click();
    },
    drop() {
      held.length = 0;
      if (note) note.textContent = "Loading…";
    },
  };
}

function observe(root) {
  const name = root.dataset.widget;
  const presses = holdPresses(root);
  let inView = false;  // the latest word from the observer, which may come while the module loads
  const observer = new IntersectionObserver(async (entries) => {
    for (const entry of entries) {
      inView = entry.isIntersecting;
      let widget = loaded.get(root);
      if (entry.isIntersecting && !widget) {
        loaded.set(root, "loading");
        root.dataset.ready = "loading";
        try {
          const module = await import(`./widgets/${name}.js`);
          widget = module.mount(root) || {};
          loaded.set(root, widget);
          startError(root)?.remove();
        } catch (error) {
          loaded.delete(root);  // the next time it scrolls into view is the next try
          failed(root, name, presses, error);
          continue;
        }
        if (inArticle) addEmbedButton(root, name, widget);
        // Scrolled past before it finished loading: that "left the viewport" found nothing to pause.
        if (!inView) widget.pause?.();
        // A widget that has more to load before it can act (the race's socket, the step traces)
        // says when it is ready with a promise; the held presses wait for it.
        Promise.resolve(widget.ready).then(() => {
          root.dataset.ready = "true";
          presses.release();
        }, (error) => failed(root, name, presses, error));
      } else if (widget && widget !== "loading") {
        if (entry.isIntersecting) widget.resume?.();
        else widget.pause?.();
      }
    }
  }, { rootMargin: "120px 0px" });
  observer.observe(root);
}

function failed(root, name, presses, error) {
  root.dataset.ready = "error";
  presses.drop();
  console.error(`widget ${name} failed to start`, error);
  showStartError(root, error);
}

for (const root of document.querySelectorAll("[data-widget]")) {
  if (inArticle) keepLinkInStep(root);
  observe(root);
}
