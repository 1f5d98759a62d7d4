// Countersign console: optional live refresh of the "waiting on me" list. The page works
// without it; with it, the list is fetched again (same origin, same session) every 10 s while
// the tab is visible, and replaced in place. Refreshing stops after 5 minutes without a key
// press, click or touch, so an unattended tab does not keep its session alive for ever.
(function () {
  "use strict";
  var list = document.getElementById("waiting");
  if (!list || !window.fetch || !window.DOMParser) { return; }
  var url = list.getAttribute("data-refresh");
  var lastInput = Date.now();
  ["keydown", "mousedown", "touchstart"].forEach(function (e) {
    document.addEventListener(e, function () { lastInput = Date.now(); }, { passive: true });
  });
  function refresh() {
    if (document.visibilityState !== "visible" || Date.now() - lastInput > 300000) { return; }
    fetch(url, { credentials: "same-origin", redirect: "manual" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("waiting");
        if (fresh) { list.replaceChildren.apply(list, Array.prototype.slice.call(fresh.childNodes)); }
      })
      .catch(function () {});
  }
  window.setInterval(refresh, 10000);
})();
