// The menu's groups (details/summary work without this script): one open at a time, Escape
// closes the open one and returns focus to its heading, a click elsewhere closes it.
(function () {
  "use strict";
  var groups = document.querySelectorAll("details.nav-group");
  if (!groups.length) { return; }
  function closeAll(except) {
    groups.forEach(function (group) { if (group !== except) { group.open = false; } });
  }
  groups.forEach(function (group) {
    group.addEventListener("toggle", function () { if (group.open) { closeAll(group); } });
    group.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && group.open) {
        group.open = false;
        group.querySelector("summary").focus();
      }
    });
  });
  document.addEventListener("click", function (event) {
    if (!event.target.closest || !event.target.closest("details.nav-group")) { closeAll(null); }
  });
})();
