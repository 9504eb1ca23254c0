/* Host-page helper for course pages that embed Forward-Forward widgets.
 *
 *   <script src="https://ff.example.edu/static/embed.js" defer></script>
 *   <ff-widget name="race" seed="3"></ff-widget>
 *
 * It defines <ff-widget>, which inserts the widget's iframe, and it resizes every iframe of
 * this server on the page to the height its content reports. A plain classic script (not a
 * module) so that any host can load it, including LMS editors that strip type="module".
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var serverOrigin = script ? new URL(script.src, document.baseURI).origin : window.location.origin;
  // Every attribute of <ff-widget> but these goes to the embed URL's query string, where the server
  // reads the widget's settings (and ignores what it doesn't know): the widget names and settings
  // live in one place, the server (app/web/widget_settings.py), never in a copy here. An unknown
  // widget name gets the server's error page, inside the frame, naming the widgets there are.
  var NOT_SETTINGS = ["name", "title", "height", "id", "class", "style", "hidden", "lang", "dir", "slot",
    "part", "is", "tabindex", "nonce", "translate", "inert", "accesskey", "autofocus"];

  function isSetting(attribute) {
    var name = attribute.name.toLowerCase();
    return NOT_SETTINGS.indexOf(name) < 0 && !/^(aria-|data-|on)/.test(name);
  }

  function heightFrom(data) {
    // Our frames say {"type": "ff-widget:height"}; pym.js children and Canvas's
    // lti.frameResize say the same thing in their own dialects.
    if (typeof data === "string") {
      var pym = data.split("xPYMx");
      if (pym.length === 4 && pym[0] === "pym" && pym[2] === "height") return parseInt(pym[3], 10);
      try { data = JSON.parse(data); } catch (error) { return NaN; }
    }
    if (!data || typeof data !== "object") return NaN;
    if (data.type === "ff-widget:height" || data.subject === "lti.frameResize") {
      return parseInt(data.height, 10);
    }
    return NaN;
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== serverOrigin) return;
    var height = heightFrom(event.data);
    if (!(height > 0 && height < 20000)) return;
    var frames = document.getElementsByTagName("iframe");
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow === event.source) {
        frames[i].style.height = height + "px";
        frames[i].setAttribute("data-ff-height", String(height));
      }
    }
  });

  if (!window.customElements || window.customElements.get("ff-widget")) return;

  class FFWidget extends HTMLElement {
    connectedCallback() {
      if (this.querySelector("iframe")) return;
      // No default: without a name the server's error page (in the frame) lists the widgets.
      var name = this.getAttribute("name") || "(no name given)";
      var url = new URL("/embed/" + encodeURIComponent(name), serverOrigin);
      for (var i = 0; i < this.attributes.length; i++) {
        var attribute = this.attributes[i];
        if (isSetting(attribute)) url.searchParams.set(attribute.name.toLowerCase(), attribute.value);
      }
      var frame = document.createElement("iframe");
      frame.src = url.toString();
      frame.title = this.getAttribute("title") || "Forward-Forward explained: " + name + " widget";
      frame.loading = "lazy";
      frame.setAttribute("allow", "fullscreen");
      frame.style.width = "100%";
      frame.style.border = "0";
      frame.style.height = (this.getAttribute("height") || "480") + "px";
      this.style.display = "block";
      this.appendChild(frame);
    }
  }

  window.customElements.define("ff-widget", FFWidget);
})();
