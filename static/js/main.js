// Mounts each widget on the page the first time it scrolls into view, and pauses or resumes
// it as it leaves or re-enters the viewport (Distill's d-figure habit). In the article, each
// mounted widget also gets an Embed button (share.js); an embed page is already the embed.
import { addEmbedButton, keepLinkInStep } from "./lib/share.js";

const loaded = new WeakMap();
const inArticle = document.body.dataset.embedded === undefined;

function observe(root) {
  const name = root.dataset.widget;
  const observer = new IntersectionObserver(async (entries) => {
    for (const entry of entries) {
      let widget = loaded.get(root);
      if (entry.isIntersecting && !widget) {
        loaded.set(root, "loading");
        try {
          const module = await import(`./widgets/${name}.js`);
          widget = module.mount(root) || {};
          loaded.set(root, widget);
          root.dataset.ready = "true";
        } catch (error) {
          loaded.delete(root);
          root.dataset.ready = "error";
          console.error(`widget ${name} failed to start`, error);
          continue;
        }
        if (inArticle) addEmbedButton(root, name, widget);
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
