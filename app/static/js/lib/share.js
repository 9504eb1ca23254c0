// Sharing from the article: an Embed disclosure under each widget with copyable snippets of the
// widget's current settings, and the race's settings kept in the page's URL so a link reproduces it.
import { requestJSON } from "./http.js";

let counter = 0;

/** The widget's embed URL on this server, with the settings it reports (widget.settings()). */
export function embedUrl(name, settings) {
  const url = new URL(`/embed/${name}`, window.location.origin);
  for (const [key, value] of Object.entries(settings)) url.searchParams.set(key, String(value));
  return url.toString();
}

function attributeText(value) {
  return String(value).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

/** The custom-element alternative: app/static/embed.js inserts the frame and keeps it sized. */
export function customElementSnippet(name, settings) {
  const attributes = Object.entries(settings).map(([key, value]) => ` ${key}="${attributeText(value)}"`).join("");
  const script = new URL("/static/embed.js", window.location.origin);
  return `<script src="${script}" defer></script>\n<ff-widget name="${name}"${attributes}></ff-widget>`;
}

async function iframeSnippet(url) {
  // The server's oEmbed answer is the one definition of the iframe snippet (size, title, attributes).
  const query = new URLSearchParams({ url, format: "json" });
  return (await requestJSON(`/oembed?${query}`)).html;
}

function element(tag, properties = {}, children = []) {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children);
  return node;
}

function snippetBlock(id, labelText, buttonText) {
  const textarea = element("textarea", { id, readOnly: true, rows: 3, spellcheck: false, className: "embed-code" });
  const label = element("label", { htmlFor: id, textContent: labelText });
  const button = element("button", { type: "button", className: "embed-copy", textContent: buttonText });
  return { block: element("div", { className: "embed-snippet" }, [label, textarea, button]), textarea, button };
}

async function copy(textarea, status) {
  try {
    await navigator.clipboard.writeText(textarea.value);
    status.textContent = "Copied to the clipboard.";
  } catch {
    // No clipboard API (plain http on a school server) or no permission: select it for the reader.
    textarea.focus();
    textarea.select();
    status.textContent = "Copying was not allowed here: the code is selected, press Ctrl+C (⌘C on a Mac) to copy it.";
  }
}

/** Append the Embed disclosure to a mounted widget's figure. */
export function addEmbedButton(root, name, widget) {
  counter += 1;
  const id = `embed-${name}-${counter}`;
  const summary = element("summary", {}, ["Embed", element("span", { className: "visually-hidden", textContent: " this figure in a course page" })]);
  const intro = element("p", { textContent: "Paste one of these into your course page's HTML (its source or HTML view). "
    + "It shows this figure alone, with the settings it has now." });
  const frame = snippetBlock(`${id}-iframe`, "Frame: works in Moodle, Canvas and any HTML page", "Copy frame code");
  const custom = snippetBlock(`${id}-element`, "Or the script and element, which size the frame to fit", "Copy script code");
  const status = element("p", { className: "embed-status", role: "status" });
  status.setAttribute("aria-live", "polite");
  const panel = element("div", { className: "embed-panel" }, [intro, frame.block, custom.block, status]);
  const details = element("details", { className: "embed-share" }, [summary, panel]);
  details.dataset.embedFor = name;

  async function fill() {
    const settings = widget.settings?.() ?? {};
    const url = embedUrl(name, settings);
    details.dataset.embedUrl = url;
    custom.textarea.value = customElementSnippet(name, settings);
    status.textContent = "";
    try {
      frame.textarea.value = await iframeSnippet(url);
    } catch (error) {
      frame.textarea.value = "";
      status.textContent = `The frame code could not be made: ${error.message}`;
      return;
    }
    details.dataset.ready = "true";
    // Straight to the code: focused and selected, ready for Ctrl+C or the Copy button.
    frame.textarea.focus();
    frame.textarea.select();
  }

  details.addEventListener("toggle", () => {
    delete details.dataset.ready;
    if (details.open) fill();
  });
  details.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && details.open) {
      details.open = false;
      summary.focus();
    }
  });
  frame.button.addEventListener("click", () => copy(frame.textarea, status));
  custom.button.addEventListener("click", () => copy(custom.textarea, status));
  root.append(details);
  return details;
}

/** Keep the page's URL on the run a widget shows (the widget dispatches ff-widget:settings). */
export function keepLinkInStep(root) {
  let shown = null;
  root.addEventListener("ff-widget:settings", (event) => {
    const text = JSON.stringify(event.detail);
    // The first run is the one the page opened with: its URL already says so.
    if (shown !== null && text !== shown) {
      const url = new URL(window.location.href);
      for (const [key, value] of Object.entries(event.detail)) url.searchParams.set(key, String(value));
      url.hash = root.closest("section[id]")?.id ?? root.id ?? "";
      window.history.replaceState(window.history.state, "", url);
    }
    shown = text;
  });
}
