// Live regions: an element with id and data-refresh="SECONDS" is re-fetched from the current URL and swapped in
// place (same id), so station status and live session cost stay current without a page reload or an extra API.
(function () {
  "use strict";

  function refresh(region) {
    var seconds = Number(region.dataset.refresh);
    if (!region.id || !(seconds > 0)) { return; }
    window.setTimeout(function tick() {
      fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "live" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html) {
            var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(region.id);
            var current = document.getElementById(region.id);
            if (fresh && current) { current.replaceChildren.apply(current, Array.from(fresh.childNodes)); }
          }
        })
        .catch(function () { /* offline for a moment: try again next tick */ })
        .finally(function () { window.setTimeout(tick, seconds * 1000); });
    }, seconds * 1000);
  }

  document.querySelectorAll("[data-refresh]").forEach(refresh);
})();
