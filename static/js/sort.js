// Sortable tables, one script for every page (loaded by base.html).
//
// Any <table class="sortable">: each header cell of its <thead> (except those marked data-nosort)
// becomes a button, so a column sorts with a click, Enter or Space. A header with class "num" or
// data-sort="num" sorts numerically. A cell's data-value (raw number or sortable text) wins over
// its displayed text; empty values sort last either way. aria-sort tells screen readers the order.
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.children[index];
    if (!cell) return "";
    var raw = cell.getAttribute("data-value");
    return (raw === null ? cell.textContent : raw).trim();
  }

  // "1,234.5", "−12", "85%", "USD 1,234.50", "1,234 (85%)" -> the first number in the text.
  function toNumber(text) {
    return parseFloat(text.replace(/\u2212/g, "-").replace(/,/g, "").replace(/^[^0-9+\-.]+/, ""));
  }

  function compare(x, y, numeric) {
    if (x === "" || y === "") return (x === "") - (y === "");
    if (numeric) {
      var a = toNumber(x), b = toNumber(y);
      if (!isNaN(a) && !isNaN(b)) return a - b;
    }
    return x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
  }

  function sortBy(table, header, index) {
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var numeric = header.classList.contains("num") || header.getAttribute("data-sort") === "num";
    var body = table.tBodies[0];
    if (!body) return;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      if (x === "" || y === "") return compare(x, y, numeric);  // empty last in both directions
      var result = compare(x, y, numeric);
      return ascending ? result : -result;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.querySelectorAll("thead th[aria-sort]").forEach(function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  function makeSortable(table) {
    var headRow = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
    if (!headRow) return;
    Array.prototype.forEach.call(headRow.cells, function (header, index) {
      if (header.hasAttribute("data-nosort") || header.querySelector("button.sort")) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (header.firstChild) button.appendChild(header.firstChild);
      header.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, header, index); });
    });
  }

  function init() {
    document.querySelectorAll("table.sortable").forEach(makeSortable);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
