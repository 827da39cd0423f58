// The print view: a button that opens the browser's print dialog, and opening it once on arrival.
(function () {
  "use strict";
  function printNow() { window.print(); }
  document.querySelectorAll("[data-print-now]").forEach(function (button) {
    button.addEventListener("click", printNow);
  });
  if (document.querySelector("[data-autoprint]") && !window.navigator.webdriver) {
    window.setTimeout(printNow, 300);
  }
})();
