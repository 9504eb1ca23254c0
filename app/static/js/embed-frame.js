// Inside an embedded widget's frame: show only the controls the embed URL asked for, and tell
// the host page our height whenever it changes, in our own message, in pym.js's dialect and as
// Canvas LMS's lti.frameResize. Every message is a string, because pym.js parents call .match()
// on whatever they receive.
const params = new URLSearchParams(window.location.search);
const pymChildId = params.get("childId");
let lastHeight = 0;

function showOnlyChosenControls() {
  // The server validated ?controls= and wrote the chosen names on <body>; no attribute: all.
  const chosen = document.body.dataset.controls;
  if (chosen === undefined) return;
  const keep = new Set(chosen.split(",").filter(Boolean));
  for (const element of document.querySelectorAll("[data-embed-control]")) {
    if (!(element instanceof HTMLElement)) continue;
    // hidden, not removed: the widget's module still finds (and drives) every element.
    element.hidden = !keep.has(element.dataset.embedControl ?? "");
  }
}

function postHeight() {
  // The body, not the viewport: measuring <html> would echo the frame's own height back.
  const height = Math.ceil(document.body.getBoundingClientRect().height);
  if (height === lastHeight || window.parent === window) return;
  lastHeight = height;
  document.documentElement.dataset.reportedHeight = String(height);
  window.parent.postMessage(JSON.stringify({ type: "ff-widget:height", height }), "*");
  window.parent.postMessage(JSON.stringify({ subject: "lti.frameResize", height }), "*");
  if (pymChildId) {
    window.parent.postMessage(["pym", pymChildId, "height", String(height)].join("xPYMx"), "*");
  }
}

showOnlyChosenControls();
new ResizeObserver(postHeight).observe(document.body);
window.addEventListener("load", postHeight);
