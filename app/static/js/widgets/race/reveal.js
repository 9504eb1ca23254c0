// After the reader presses Train, the pictures they are about to watch belong on screen: on a phone
// the settings above them can push them below the fold. Only this document scrolls (inside a
// course page's frame, never the host page), and only when something watched is out of view.

const MARGIN = 8; // CSS px left above the toolbar, so its top edge is not flush with the screen's

/** Scroll so that `top` (the toolbar) starts the viewport, when any of `watched` is not wholly in it. */
export function scrollToShow(top, watched) {
  const height = window.innerHeight;
  const outside = watched.some((element) => {
    const box = element.getBoundingClientRect();
    return box.top < 0 || box.bottom > height;
  });
  if (!outside) return false;
  const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  window.scrollBy({ top: top.getBoundingClientRect().top - MARGIN, behavior: smooth ? "smooth" : "auto" });
  return true;
}
