// Keyboard-first reviewing, served by the review page itself. Judge queue: 1/2/3/4 answer, r focuses the reason.
// Row and failure queues: every control that has a data-key answers to that key (a button is pressed, a
// checkbox toggled, a text box focused); Ctrl+Enter in the answer box saves a correction. Everywhere: n/p move,
// Esc leaves a text box.
(function () {
  "use strict";
  var VERDICT = { "1": "left", "2": "right", "3": "tie", "4": "both_bad" };
  function keyed(key) {
    var all = document.querySelectorAll("[data-key]");
    for (var i = 0; i < all.length; i++) if (all[i].dataset.key === key) return all[i];
    return null;
  }
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    var typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA");
    if (typing && t.type !== "checkbox") {
      if (ev.key === "Escape") t.blur();
      else if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && t.id === "answer") {
        ev.preventDefault();
        document.getElementById("save-edit").click();
      }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var form = document.getElementById("verdict-form");
    var body = document.body;
    var target = form ? null : keyed(ev.key);
    if (form && VERDICT[ev.key]) {
      ev.preventDefault();
      form.querySelector('button[value="' + VERDICT[ev.key] + '"]').click();
    } else if (target) {
      ev.preventDefault();
      if (target.type === "checkbox") target.checked = !target.checked;
      else if (target.tagName === "TEXTAREA" || target.tagName === "INPUT") target.focus();
      else target.click();
    } else if (ev.key === "n" && body.dataset.next) {
      window.location.href = body.dataset.next;
    } else if (ev.key === "p" && body.dataset.prev) {
      window.location.href = body.dataset.prev;
    } else if (ev.key === "r" && document.getElementById("reason")) {
      ev.preventDefault();
      document.getElementById("reason").focus();
    }
  });
})();
