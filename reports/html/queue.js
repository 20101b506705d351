// The operator queue's filters, search and sort, over the items the page shows (no network,
// no data in this script: it reads the items' data-* attributes).
(function () {
  "use strict";
  var table = document.querySelector("#queue table.queue");
  if (!table) return;
  var items = Array.prototype.slice.call(table.querySelectorAll("tbody.item"));
  var selects = Array.prototype.slice.call(document.querySelectorAll("#queue select[data-facet]"));
  var search = document.getElementById("queue-search");
  var count = document.getElementById("queue-count");
  var buttons = Array.prototype.slice.call(table.querySelectorAll("button[data-sort]"));
  var words = new Map(items.map(function (b) { return [b, b.textContent.toLowerCase()]; }));
  var NUMERIC = {rank: true, severity: true, risk: true};
  var sortKey = "rank", direction = 1;

  function filter() {
    var q = search.value.trim().toLowerCase();
    var shown = 0;
    items.forEach(function (b) {
      var pass = selects.every(function (s) { return !s.value || b.getAttribute("data-" + s.dataset.facet) === s.value; })
        && (!q || words.get(b).indexOf(q) >= 0);
      b.hidden = !pass;
      if (pass) shown += 1;
    });
    count.textContent = shown + " of " + items.length + " items";
  }

  function sort(key) {
    direction = key === sortKey ? -direction : 1;
    sortKey = key;
    items.sort(function (a, b) {
      var x = a.getAttribute("data-" + key), y = b.getAttribute("data-" + key);
      var c = NUMERIC[key] ? x - y : (x < y ? -1 : x > y ? 1 : 0);
      return c * direction || a.dataset.rank - b.dataset.rank;
    });
    items.forEach(function (b) { table.appendChild(b); });
    buttons.forEach(function (btn) {
      var th = btn.closest("th");
      if (btn.dataset.sort === key) th.setAttribute("aria-sort", direction > 0 ? "ascending" : "descending");
      else if (!th.querySelector("button[data-sort='" + key + "']")) th.removeAttribute("aria-sort");
    });
  }

  selects.forEach(function (s) { s.addEventListener("change", filter); });
  search.addEventListener("input", filter);
  buttons.forEach(function (btn) { btn.addEventListener("click", function () { sort(btn.dataset.sort); }); });
  filter();
})();
