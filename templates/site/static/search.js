/* Site search: the header's box drives it (one box on every page). An arXiv id goes straight to
   its paper page; words search the archive's Pagefind bundles (one per month or week, merged)
   and results show as the site's cards, with the abstract text around the words as excerpt.
   Also loaded by pages with a form (subscribe): their "opened from a file?" note hides when served. */
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
  var root = new URL(el.getAttribute("data-root") || "./", window.location.href);
  var bundles = (el.getAttribute("data-bundles") || "").split(" ").filter(Boolean);
  var input = document.getElementById("site-q");
  var list = document.getElementById("search-list");
  var status = document.getElementById("search-status");
  if (!bundles.length || !input || !list) return;
  var path = function (b) { return new URL(b, root).pathname; };
  var ID = /^\s*(?:arxiv:\s*)?((?:\d{4}\.\d{4,5})|(?:[a-z][a-z.-]*\/\d{7}))(?:v\d+)?\s*$/i;
  var MAX = 30;  /* results shown */
  var LOOK = 100;  /* results whose text is loaded to put exact matches first */

  function slug(id) { return id.replace(/_/g, "~").replace(/\//g, "_"); }
  function say(text) { status.textContent = text; }
  function node(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text) n.textContent = text;
    return n;
  }

  function openId(id) {
    var url = new URL("papers/" + slug(id) + ".html", root);
    return fetch(url, { method: "HEAD" }).then(function (r) {
      if (r.ok) { window.location.replace(url.href); return true; }
      list.textContent = "";
      say("arXiv:" + id + " is not in this archive. ");
      var a = node("a", "", "Open it on arXiv");
      a.href = "https://arxiv.org/abs/" + id;
      status.appendChild(a);
      return true;
    }).catch(function () { return false; });
  }

  /* the abstract around the first word searched for, with every searched word marked */
  function excerpt(abstract, words) {
    var lower = abstract.toLowerCase(), at = -1;
    words.forEach(function (w) {
      var i = lower.indexOf(w);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    });
    var start = at > 90 ? abstract.lastIndexOf(" ", at - 60) + 1 : 0;
    var end = Math.min(abstract.length, start + 260);
    if (end < abstract.length) end = abstract.lastIndexOf(" ", end);
    var text = (start > 0 ? "…" : "") + abstract.slice(start, end) + (end < abstract.length ? "…" : "");
    var p = node("p", "snippet");
    var pattern = words.length ? new RegExp("(" + words.map(function (w) {
      return w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    }).join("|") + ")", "gi") : null;
    var last = 0;
    if (pattern) {
      text.replace(pattern, function (m, _g, offset) {
        p.appendChild(document.createTextNode(text.slice(last, offset)));
        p.appendChild(node("mark", "", m));
        last = offset + m.length;
        return m;
      });
    }
    p.appendChild(document.createTextNode(text.slice(last)));
    return p;
  }

  function card(result, words) {
    var meta = result.meta || {};
    var li = node("li", "paper");
    var h = node("h3", "card-title");
    var a = node("a", "", meta.title || result.url);
    a.href = result.url;
    h.appendChild(a);
    li.appendChild(h);
    var names = (meta.authors || "").split(", ").filter(Boolean);
    var shown = names.slice(0, 4).join(", ") + (names.length > 4 ? " +" + (names.length - 4) + " more" : "");
    li.appendChild(node("p", "authors", shown));
    var n = parseInt(meta.n || "0", 10);
    li.appendChild(excerpt(n > 0 ? result.content.slice(0, n) : result.content, words));
    var badges = node("p", "badges");
    (meta.cats || "").split(" ").filter(Boolean).forEach(function (c) { badges.appendChild(node("span", "cat", c)); });
    if (meta.day) badges.appendChild(node("span", "dot", meta.day));
    li.appendChild(badges);
    return li;
  }

  /* Pagefind stems words ("Chang" finds "change"): the papers holding what was typed, as
     typed, come first: in the title, then among the authors, then in the abstract */
  function exactFirst(items, query) {
    var phrase = query.replace(/"/g, "").replace(/\s+/g, " ").trim()
      .replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    var whole = new RegExp("(^|[^\\p{L}\\p{N}])" + phrase + "($|[^\\p{L}\\p{N}])", "iu");
    function rank(item) {
      var meta = item.meta || {};
      if (whole.test(meta.title || "")) return 0;
      if (whole.test(meta.authors || "")) return 1;
      if (whole.test((item.content || "").replace(/\s+/g, " "))) return 2;
      return 3;
    }
    return items.map(function (item, i) { return { item: item, key: rank(item), i: i }; })
      .sort(function (a, b) { return a.key - b.key || a.i - b.i; })
      .map(function (x) { return x.item; });
  }

  var pagefind = null;
  function engine() {
    if (pagefind) return pagefind;
    pagefind = import(new URL(bundles[0] + "pagefind.js", root).href).then(function (pf) {
      return pf.options({ baseUrl: root.pathname }).then(function () {
        return Promise.all(bundles.slice(1).map(function (b) {
          return pf.mergeIndex(path(b), { baseUrl: root.pathname });
        }));
      }).then(function () { return pf; });
    });
    return pagefind;
  }

  var latest = 0;
  function run(q) {
    var ticket = ++latest;
    var query = q.trim();
    var params = new URLSearchParams(window.location.search);
    if (query) params.set("q", query); else params.delete("q");
    history.replaceState(null, "", "?" + params.toString());
    if (!query) { list.textContent = ""; say(""); return; }
    var id = ID.exec(query);
    var opened = id ? openId(id[1]) : Promise.resolve(false);
    opened.then(function (done) {
      if (done || ticket !== latest) return;
      say("Searching…");
      engine().then(function (pf) { return pf.search(query); }).then(function (found) {
        if (ticket !== latest) return;
        var looked = found.results.slice(0, LOOK);
        return Promise.all(looked.map(function (r) { return r.data(); })).then(function (items) {
          if (ticket !== latest) return;
          var words = query.toLowerCase().replace(/"/g, " ").split(/\s+/).filter(function (w) { return w.length > 1; });
          list.textContent = "";
          exactFirst(items, query).slice(0, MAX).forEach(function (item) { list.appendChild(card(item, words)); });
          var total = found.results.length;
          say(total ? (total > MAX ? "The best " + MAX + " of " + total + " papers" : total + (total === 1 ? " paper" : " papers")) + " for “" + query + "”"
                    : "No paper matches “" + query + "”.");
        });
      }).catch(function (err) { say("Search could not load: " + err); });
    });
  }

  var form = input.form;
  var timer = null;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { run(input.value); }, 250);
  });
  if (form) form.addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(timer); run(input.value); });
  var q = new URLSearchParams(window.location.search).get("q");
  if (q) { input.value = q; run(q); } else { input.focus(); }
})();
