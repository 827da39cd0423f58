// 検診結果の入力: after htmx swaps in a fresh sheet, put the cursor in the first field
// ([data-focus-first], 整理番号 after a save); and mirror inline check errors as aria-invalid.
(function () {
  "use strict";

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
