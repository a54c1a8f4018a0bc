// Keyboard shortcuts and multi-select of prompt review (queue and request pages; no inline
// scripts under the CSP). The page lists the shortcuts; this file only acts on elements that carry
// data-shortcut, so a key whose action is not offered for the item does nothing.
//
// * Request page: j / k follow the next / previous link, t d c e press the action buttons (c and e
//   want a note: with an empty note they put the cursor in it instead), n focuses the note.
// * Queue: j / k move between rows, x ticks the row, o or Enter opens it; "select all" ticks every
//   row of the page.
(function () {
  "use strict";

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  var note = document.getElementById("id_note");
  var hint = document.getElementById("note-hint");

  function act(key) {
    var target = document.querySelector('[data-shortcut="' + key + '"]');
    if (!target) return false;
    if (target.tagName === "A") {
      window.location.assign(target.href);
      return true;
    }
    if (target.hasAttribute("data-needs-note") && note && !note.value.trim()) {
      note.focus();
      if (hint) hint.textContent = "Write a note first, then press " + target.textContent.trim() + ".";
      return true;
    }
    target.click();
    return true;
  }

  // Queue rows: the focused one is the row whose link has focus.
  var links = Array.prototype.slice.call(document.querySelectorAll("#queue-table a.queue-link"));

  function currentRow() {
    return links.indexOf(document.activeElement);
  }

  function moveRow(step) {
    if (!links.length) return false;
    var index = currentRow();
    index = index < 0 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, index + step));
    links[index].focus();
    links[index].closest("tr").scrollIntoView({ block: "nearest" });
    return true;
  }

  function queueKey(key) {
    if (key === "j") return moveRow(1);
    if (key === "k") return moveRow(-1);
    var index = currentRow();
    if (index < 0) return false;
    if (key === "x") {
      var box = links[index].closest("tr").querySelector('input[type="checkbox"]');
      if (box) box.checked = !box.checked;
      return true;
    }
    if (key === "o") {
      window.location.assign(links[index].href);
      return true;
    }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key;
    var handled = false;
    if (links.length) {
      handled = queueKey(key);
    } else if (key === "n" && note) {
      note.focus();
      handled = true;
    } else if ("jktdce".indexOf(key) >= 0 && key.length === 1) {
      handled = act(key);
    }
    if (handled) event.preventDefault();
  });

  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('#queue-table tbody input[name="item"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }
})();
