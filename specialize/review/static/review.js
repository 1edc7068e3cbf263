// Keyboard-first labelling: 1/2/3/4 answer, n/p move, r focuses the reason. Served by the review page itself.
(function () {
  "use strict";
  var VERDICT = { "1": "left", "2": "right", "3": "tie", "4": "both_bad" };
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA")) {
      if (ev.key === "Escape") t.blur();
      return;
    }
    var form = document.getElementById("verdict-form");
    var body = document.body;
    if (form && VERDICT[ev.key]) {
      ev.preventDefault();
      form.querySelector('button[value="' + VERDICT[ev.key] + '"]').click();
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
