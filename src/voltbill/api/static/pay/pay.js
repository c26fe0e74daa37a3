// Live session on the pay page: polls the status JSON and updates the fields (no external scripts).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  var url = live.getAttribute("data-status-url");
  function set(name, value) {
    var el = live.querySelector('[data-field="' + name + '"]');
    if (el && value !== undefined && value !== null) { el.textContent = value; }
  }
  function receipt(href, number) {
    var el = live.querySelector('[data-field="receipt"]');
    if (!el || el.querySelector("a")) { return; }
    var a = document.createElement("a");
    a.href = href;
    a.textContent = "Download your receipt " + number + " (PDF)";
    el.appendChild(a);
  }
  function poll() {
    fetch(url, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        set("status", s.status);
        set("kwh", s.kwh);
        if (s.cost) { set("cost", s.cost.incl_vat !== null ? s.cost.incl_vat : s.cost.excl_vat); }
        if (s.paid) { set("cost", s.paid); }
        set("payment_status", s.payment_status);
        if (s.receipt_url) { receipt(s.receipt_url, s.receipt_number); return; }
        if (s.status !== "cancelled") { setTimeout(poll, 5000); }
      })
      .catch(function () { setTimeout(poll, 10000); });
  }
  setTimeout(poll, 2000);
})();
