// Idle screen lock, the countdown in the header, and the activity heartbeat.
// The server enforces every limit on its own; this script only makes them visible and prompt.
(function () {
  "use strict";
  var body = document.body;
  if (!body || !body.dataset.lockIn) { return; }

  var lockIn = parseInt(body.dataset.lockIn, 10);
  var logoffIn = parseInt(body.dataset.logoffIn, 10);
  var logoffAfter = parseInt(body.dataset.logoffAfter, 10);
  var maxIn = parseInt(body.dataset.maxIn, 10);
  var lockUrl = body.dataset.lockUrl;
  var heartbeatUrl = body.dataset.heartbeatUrl;
  var onLockScreen = window.location.pathname === new URL(lockUrl, window.location.href).pathname;
  var started = Date.now();
  var lastActivity = Date.now();
  var lastBeat = Date.now();
  // Report activity often enough that the server never idles out a person who is typing.
  var beatEvery = Math.max(1000, Math.min(30000, lockIn * 1000 / 3));

  function csrfToken() {
    try { return JSON.parse(body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function format(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + "分" + (s < 10 ? "0" : "") + s + "秒";
  }

  function blankPage() {
    // Remove the content from the DOM, not merely cover it.
    ["main", ".site-nav", ".who"].forEach(function (selector) {
      var node = document.querySelector(selector);
      if (node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
    });
  }

  function lockNow() {
    blankPage();
    window.location.replace(lockUrl);
  }

  function beat() {
    lastBeat = Date.now();
    fetch(heartbeatUrl, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } })
      .then(function (response) {
        if (response.redirected || response.status >= 300) { lockNow(); }
      })
      .catch(function () { /* the next tick retries */ });
  }

  function activity() {
    lastActivity = Date.now();
    if (!onLockScreen && lastActivity - lastBeat >= beatEvery) { beat(); }
  }

  ["keydown", "mousedown", "pointerdown", "wheel", "touchstart", "input"].forEach(function (type) {
    document.addEventListener(type, activity, { passive: true, capture: true });
  });
  document.body.addEventListener("htmx:afterRequest", function () { lastBeat = Date.now(); });

  var lockLabel = document.getElementById("lock-countdown");
  var logoffLabel = document.getElementById("logoff-countdown");

  function tick() {
    var now = Date.now();
    var idle = (now - Math.max(lastActivity, started)) / 1000;
    var sinceBeat = (now - lastBeat) / 1000;
    var untilLock = onLockScreen ? 0 : lockIn - idle;
    var sinceStart = (now - started) / 1000;
    // Until the first heartbeat the server's own figure holds; after it, idle counts from the beat.
    var idleLimit = lastBeat > started ? logoffAfter - sinceBeat : logoffIn - sinceStart;
    var untilLogoff = Math.min(idleLimit, maxIn - sinceStart);
    if (lockLabel) { lockLabel.textContent = onLockScreen ? "ロック中" : format(untilLock); }
    if (logoffLabel) { logoffLabel.textContent = format(untilLogoff); }
    if (!onLockScreen && untilLock <= 0) { lockNow(); return; }
    if (untilLogoff <= 0) { window.location.reload(); return; }
    if (!onLockScreen && lastActivity > lastBeat && now - lastBeat >= beatEvery) { beat(); }
  }
  window.setInterval(tick, 1000);
  tick();
})();
