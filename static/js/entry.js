// 検診結果の入力: after htmx swaps in a fresh sheet, put the cursor in the first field
// ([data-focus-first], 整理番号 after a save); mirror inline check errors as aria-invalid; and
// the function keys shown on the sheet: F9 保存, F8 突合待ちへ, F2 受診者欄へ. Only these three
// are taken; the browser's own keys (F5, F6, F11, F12, F3 …) are left alone.
(function () {
  "use strict";

  var KEYS = { F9: "save", F8: "park" };

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    var sheet = document.querySelector("form[data-entry-keys]");
    if (!sheet) { return; }
    if (event.key === "F2") {
      var first = sheet.querySelector("[data-focus-first]");
      if (first) {
        event.preventDefault();
        first.focus();
        if (typeof first.select === "function") { first.select(); }
      }
      return;
    }
    var action = KEYS[event.key];
    if (!action || !sheet.contains(event.target) && event.target !== document.body) { return; }
    var button = sheet.querySelector("button[type='submit'][name='action'][value='" + action + "']");
    if (button) {
      event.preventDefault();
      button.click();  // the same submission as the button: htmx sends its name and value
    }
  });

  function focusFirst() {
    var field = document.querySelector("[data-focus-first]");
    if (field) {
      field.focus();
      if (typeof field.select === "function") { field.select(); }
    }
  }

  function markInvalid() {
    document.querySelectorAll("[data-error-for]").forEach(function (slot) {
      var input = document.getElementById(slot.getAttribute("data-error-for"));
      if (!input) { return; }
      if (slot.textContent.trim()) {
        input.setAttribute("aria-invalid", "true");
      } else {
        input.removeAttribute("aria-invalid");
      }
    });
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    var xhr = event.detail && event.detail.xhr;
    var text = xhr && typeof xhr.responseText === "string" ? xhr.responseText : "";
    markInvalid();
    if (text.indexOf("data-focus-first") === -1) { return; }
    if (xhr.status === 422) {
      // a refused save: the first field in error, else the message (it says what to do next)
      var target = document.querySelector("#sheet [aria-invalid='true']") ||
        document.querySelector("#sheet .error-summary");
      if (target) {
        if (!target.hasAttribute("tabindex") && target.tagName !== "INPUT") { target.setAttribute("tabindex", "-1"); }
        target.focus();
        return;
      }
    }
    focusFirst();
  });
})();
