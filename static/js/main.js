// Mounts each widget on the page the first time it scrolls into view, and pauses or resumes
// it as it leaves or re-enters the viewport (Distill's d-figure habit). In the article, each
// mounted widget also gets an Embed button (share.js); an embed page is already the embed.
import { addEmbedButton, keepLinkInStep } from "./lib/share.js";

const loaded = new WeakMap();
const inArticle = document.body.dataset.embedded === undefined;

// A figure that could not start says so in the page, not only in the console.
const startError = (root) => root.querySelector(":scope > .widget-start-error");

function showStartError(root, error) {
  const message = startError(root) ?? document.createElement("p");
  message.className = "widget-status widget-start-error";
  message.setAttribute("role", "status");
  message.textContent = `This figure could not start (${error.message}). Reload the page to try again.`;
  root.append(message);
}

function observe(root) {
  const name = root.dataset.widget;
  let inView = false;  // the latest word from the observer, which may come while the module loads
  const observer = new IntersectionObserver(async (entries) => {
    for (const entry of entries) {
      inView = entry.isIntersecting;
      let widget = loaded.get(root);
      if (entry.isIntersecting && !widget) {
        loaded.set(root, "loading");
        try {
          const module = await import(`./widgets/${name}.js`);
          widget = module.mount(root) || {};
          loaded.set(root, widget);
          root.dataset.ready = "true";
          startError(root)?.remove();
        } catch (error) {
          loaded.delete(root);  // the next time it scrolls into view is the next try
          root.dataset.ready = "error";
          console.error(`widget ${name} failed to start`, error);
          showStartError(root, error);
          continue;
        }
        if (inArticle) addEmbedButton(root, name, widget);
        // Scrolled past before it finished loading: that "left the viewport" found nothing to pause.
        if (!inView) widget.pause?.();
      } else if (widget && widget !== "loading") {
        if (entry.isIntersecting) widget.resume?.();
        else widget.pause?.();
      }
    }
  }, { rootMargin: "120px 0px" });
  observer.observe(root);
}

for (const root of document.querySelectorAll("[data-widget]")) {
  if (inArticle) keepLinkInStep(root);
  observe(root);
}
