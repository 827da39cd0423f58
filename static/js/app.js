// Idle screen lock, the countdown in the header, the activity heartbeat, the warning a minute
// before the lock, and the draft of what was typed (kept on the server over the lock, restored
// after the unlock). The server enforces every limit on its own; this script only makes them
// visible and prompt.
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
  var draftUrl = body.dataset.draftUrl;
  // The warning comes a minute before the lock (half the time when the lock is set shorter).
  var WARN_BEFORE = Math.min(60, lockIn / 2);
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

  // --- the draft: what was typed in the page's forms, never a password ---------------------
  var warning = document.getElementById("idle-warning");
  var continueButton = document.getElementById("idle-continue");
  var focusBeforeWarning = null;

  var SKIPPED = ["hidden", "password", "file", "submit", "button", "reset", "image"];

  function typedFields() {
    var fields = [];
    var active = document.activeElement;
    if (active === continueButton && focusBeforeWarning) { active = focusBeforeWarning; }
    document.querySelectorAll("main form").forEach(function (form, index) {
      var seen = {};
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.disabled) { return; }
        var type = (el.type || "").toLowerCase();
        var nth = seen[el.name] || 0;
        seen[el.name] = nth + 1;
        if (SKIPPED.indexOf(type) >= 0 || /password/i.test(el.autocomplete || "")) { return; }
        var field = { form: form.id || "", index: index, name: el.name, nth: nth };
        if (type === "checkbox" || type === "radio") {
          if (el.checked === el.defaultChecked) { return; }
          field.checked = el.checked;
          field.option = el.value;
        } else if (el.tagName === "SELECT") {
          // a single select with no `selected` option shows its first option: that is no change
          var options = Array.prototype.slice.call(el.options);
          var defaults = options.filter(function (option) { return option.defaultSelected; });
          if (!defaults.length && !el.multiple && options.length) { defaults = [options[0]]; }
          var values = options.filter(function (option) { return option.selected; })
            .map(function (option) { return option.value; });
          var before = defaults.map(function (option) { return option.value; });
          if (values.join("\u0000") === before.join("\u0000")) { return; }
          field.values = values;
        } else if (el.value !== el.defaultValue) {
          field.value = el.value;
        } else {
          return;
        }
        if (el === active) { field.focused = true; }
        fields.push(field);
      });
    });
    return fields;
  }

  function saveDraft(fields) {
    if (!draftUrl || !fields.length) { return Promise.resolve(); }
    var sent = fetch(draftUrl, {
      method: "POST", credentials: "same-origin", keepalive: true,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ path: window.location.pathname + window.location.search, fields: fields })
    }).catch(function () { /* the lock comes all the same */ });
    // never wait long for it: the lock must not be held up by a slow network
    return Promise.race([sent, new Promise(function (done) { window.setTimeout(done, 3000); })]);
  }

  function matching(form, field) {
    var found = [];
    Array.prototype.forEach.call(form.elements, function (el) { if (el.name === field.name) { found.push(el); } });
    if (field.checked !== undefined) {
      return found.filter(function (el) { return el.value === field.value; })[0];
    }
    return found[field.nth || 0];
  }

  function restoreDraft() {
    var fields;
    try { fields = JSON.parse(body.dataset.draft || "[]"); } catch (e) { return; }
    if (!fields.length) { return; }
    var forms = document.querySelectorAll("main form");
    var focus = null, restored = 0;
    fields.forEach(function (field) {
      var form = (field.form && document.getElementById(field.form)) || forms[field.index];
      if (!form || form.tagName !== "FORM") { return; }
      var el = matching(form, field);
      if (!el) { return; }
      if (field.checked !== undefined) {
        el.checked = field.checked;
      } else if (field.values !== undefined && el.tagName === "SELECT") {
        Array.prototype.forEach.call(el.options, function (option) {
          option.selected = field.values.indexOf(option.value) >= 0;
        });
      } else if (field.value !== undefined) {
        el.value = field.value;
      } else {
        return;
      }
      restored += 1;
      if (field.focused) { focus = el; }
    });
    var status = document.getElementById("draft-status");
    if (status && restored) {
      status.textContent = "画面ロックの前に入力していた内容を元に戻しました（" + restored + "項目）。";
      status.hidden = false;
    }
    if (focus) { focus.focus(); }
  }

  function lockNow() {
    if (locking) { return; }
    locking = true;
    var fields = onLockScreen ? [] : typedFields();
    blankPage();
    saveDraft(fields).then(function () { window.location.replace(lockUrl); });
  }

  function showWarning(seconds) {
    if (!warning) { return; }
    var counter = document.getElementById("idle-warning-seconds");
    if (counter) { counter.textContent = String(Math.max(0, Math.ceil(seconds))); }
    if (warning.hidden) {
      focusBeforeWarning = document.activeElement;
      warning.hidden = false;
      if (continueButton) { continueButton.focus(); }
    }
  }

  function hideWarning() {
    if (!warning || warning.hidden) { return; }
    var hadFocus = document.activeElement === continueButton;
    warning.hidden = true;
    if (hadFocus && focusBeforeWarning && document.body.contains(focusBeforeWarning)) {
      focusBeforeWarning.focus();
    }
    focusBeforeWarning = null;
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

  if (continueButton) {
    continueButton.addEventListener("click", function () {
      activity();
      beat();  // touches the server session at once
      hideWarning();
    });
  }

  var lockLabel = document.getElementById("lock-countdown");
  var logoffLabel = document.getElementById("logoff-countdown");

  var locking = false;

  function tick() {
    if (locking) { return; }
    var now = Date.now();
    var idle = (now - Math.max(lastActivity, started)) / 1000;
    var sinceBeat = (now - lastBeat) / 1000;
    var untilLock = onLockScreen ? 0 : lockIn - idle;
    var sinceStart = (now - started) / 1000;
    // Until the first heartbeat the server's own figure holds; after it, idle counts from the beat.
    var idleLimit = lastBeat > started ? logoffAfter - sinceBeat : logoffIn - sinceStart;
    var untilLogoff = Math.min(idleLimit, maxIn - sinceStart);
    if (lockLabel) { lockLabel.textContent = format(untilLock); }
    if (logoffLabel) { logoffLabel.textContent = format(untilLogoff); }
    if (!onLockScreen && untilLock <= 0) { lockNow(); return; }
    if (!onLockScreen && untilLock <= WARN_BEFORE) { showWarning(untilLock); } else { hideWarning(); }
    if (untilLogoff <= 0) { window.location.reload(); return; }
    if (!onLockScreen && lastActivity > lastBeat && now - lastBeat >= beatEvery) { beat(); }
  }
  window.setInterval(tick, 1000);
  if (body.dataset.draft) { restoreDraft(); }
  tick();
})();
