/* Pagefind search UI: merges the archive's search bundles (one per month or week). Also
   loaded by pages with a form (subscribe): their "opened from a file?" note hides when served. */
(function () {
  "use strict";
  if (window.location.protocol !== "file:") {
    document.querySelectorAll(".file-note").forEach(function (n) { n.hidden = true; });
  }
  /* "Get it by email" on a topic page links subscribe.html?topic=<id>: that topic comes ticked */
  var wanted = new URLSearchParams(window.location.search).get("topic");
  document.querySelectorAll("form.subscribe input[name=topics]").forEach(function (box) {
    if (box.value === wanted) box.checked = true;
  });
  var el = document.getElementById("search");
  if (!el) return;
  if (typeof PagefindUI === "undefined") return;
  var root = new URL(el.getAttribute("data-root") || "./", window.location.href);
  var base = root.pathname;
  var bundles = (el.getAttribute("data-bundles") || "").split(" ").filter(Boolean);
  if (!bundles.length) return;
  var path = function (b) { return new URL(b, root).pathname; };
  var ui = new PagefindUI({
    element: "#search",
    bundlePath: path(bundles[0]),
    baseUrl: base,
    mergeIndex: bundles.slice(1).map(function (b) { return { bundlePath: path(b), baseUrl: base }; }),
    showImages: false,
    showSubResults: false,
    excerptLength: 30,
    autofocus: true,
    translations: { placeholder: "Search titles, abstracts and authors" }
  });
  var q = new URLSearchParams(window.location.search).get("q");
  if (q) ui.triggerSearch(q);
})();
