// WebAuthn ceremonies: fetch options from the server, ask the authenticator (user verification
// required), send the answer back. The server decides everything; this only carries bytes.
(function () {
  "use strict";

  function b64urlToBuffer(value) {
    var base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function bufferToB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? "{}" : body
    }).then(function (response) {
      return response.json().catch(function () { return { ok: false, message: "通信に失敗しました。" }; })
        .then(function (data) {
          if (!response.ok) { throw new Error(data.message || "処理できませんでした。"); }
          return data;
        });
    });
  }

  function creationOptions(json) {
    json.challenge = b64urlToBuffer(json.challenge);
    json.user.id = b64urlToBuffer(json.user.id);
    (json.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuffer(c.id); });
    return { publicKey: json };
  }

  function requestOptions(json) {
    json.challenge = b64urlToBuffer(json.challenge);
    (json.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuffer(c.id); });
    return { publicKey: json };
  }

  function registrationJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id, rawId: bufferToB64url(credential.rawId), type: credential.type,
      response: {
        clientDataJSON: bufferToB64url(response.clientDataJSON),
        attestationObject: bufferToB64url(response.attestationObject),
        transports: response.getTransports ? response.getTransports() : []
      },
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined
    };
  }

  function assertionJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id, rawId: bufferToB64url(credential.rawId), type: credential.type,
      response: {
        clientDataJSON: bufferToB64url(response.clientDataJSON),
        authenticatorData: bufferToB64url(response.authenticatorData),
        signature: bufferToB64url(response.signature),
        userHandle: response.userHandle ? bufferToB64url(response.userHandle) : undefined
      },
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined
    };
  }

  // A lock screen may stay open longer than its CSRF token lives: when the page names a token
  // URL, fetch a fresh token first and put it wherever the page keeps one.
  function freshToken(url) {
    if (!url) { return Promise.resolve(); }
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          window.location.reload();  // the session is over: the server shows the login page
          throw new Error("セッションが終了しました。");
        }
        return response.json();
      })
      .then(function (data) {
        document.body.setAttribute("hx-headers", JSON.stringify({ "X-CSRFToken": data.token }));
        document.querySelectorAll("input[name=csrf_token]").forEach(function (input) {
          input.value = data.token;
        });
      });
  }

  function show(message) {
    var box = document.getElementById("webauthn-message");
    if (box) { box.textContent = message; }
  }

  function explain(error) {
    if (error && error.name === "NotAllowedError") {
      return "生体認証が完了しませんでした（取り消されたか、本人確認ができませんでした）。もう一度お試しください。";
    }
    return (error && error.message) || "生体認証に失敗しました。";
  }

  function assert(button) {
    button.disabled = true;
    show("");
    freshToken(button.dataset.csrfUrl)
      .then(function () { return post(button.dataset.optionsUrl); })
      .then(function (options) { return navigator.credentials.get(requestOptions(options)); })
      .then(function (credential) { return post(button.dataset.verifyUrl, JSON.stringify(assertionJSON(credential))); })
      .then(function (result) { window.location.assign(result.redirect); })
      .catch(function (error) { show(explain(error)); button.disabled = false; button.focus(); });
  }

  // The buttons arrive disabled and are enabled here, once wired: a click before this script ran
  // would do nothing, and an enrollment form sent without it would put the password in a URL.
  function ready(button) {
    button.disabled = false;
    if (button.hasAttribute("autofocus")) { button.focus(); }
  }

  ["webauthn-login", "webauthn-unlock", "webauthn-reauth"].forEach(function (id) {
    var button = document.getElementById(id);
    if (button) {
      button.addEventListener("click", function () { assert(button); });
      ready(button);
    }
  });

  // On the lock screen the header's forms (logout) get a fresh token before they are sent.
  var unlockButton = document.getElementById("webauthn-unlock");
  if (unlockButton && unlockButton.dataset.csrfUrl) {
    document.querySelectorAll("header form").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        freshToken(unlockButton.dataset.csrfUrl).then(function () { form.submit(); });
      });
    });
  }

  // Errors at their fields: the message under the field, tied to it by aria-describedby and
  // aria-invalid; focus on the first field in error.
  function clearFieldErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (box) {
      var field = form.elements[box.dataset.errorFor];
      box.textContent = "";
      box.hidden = true;
      if (field) {
        field.removeAttribute("aria-invalid");
        var ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
          return id && id !== box.id;
        });
        if (ids.length) { field.setAttribute("aria-describedby", ids.join(" ")); } else { field.removeAttribute("aria-describedby"); }
      }
    });
  }

  function showFieldErrors(form, errors) {
    var first = null;
    form.querySelectorAll("[data-error-for]").forEach(function (box) {
      var name = box.dataset.errorFor;
      var messages = errors[name];
      if (!messages || !messages.length) { return; }
      var field = form.elements[name];
      box.textContent = messages.join("、");
      box.hidden = false;
      if (field) {
        field.setAttribute("aria-invalid", "true");
        var ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
        if (ids.indexOf(box.id) < 0) { ids.push(box.id); }
        field.setAttribute("aria-describedby", ids.join(" "));
        if (!first) { first = field; }
      }
    });
    return first;
  }

  // The server checks what the form says (the enrollment password) before the authenticator is
  // asked for anything: a refused password never creates a credential.
  function precheck(form, body) {
    if (!form.dataset.checkUrl) { return Promise.resolve(); }
    clearFieldErrors(form);
    return fetch(form.dataset.checkUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return { ok: false, message: "通信に失敗しました。" }; })
        .then(function (data) {
          if (response.ok) { return; }
          var error = new Error(data.message || "処理できませんでした。");
          error.fieldErrors = data.errors || null;
          throw error;
        });
    });
  }

  function registerForm(form, extra) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var submit = form.querySelector("[type=submit]");
      submit.disabled = true;
      show("");
      precheck(form, extra(form))
        .then(function () { return post(form.dataset.optionsUrl); })
        .then(function (options) { return navigator.credentials.create(creationOptions(options)); })
        .then(function (credential) {
          var body = extra(form);
          body.credential = JSON.stringify(registrationJSON(credential));
          return post(form.dataset.completeUrl, JSON.stringify(body));
        })
        .then(function (result) { window.location.assign(result.redirect); })
        .catch(function (error) {
          submit.disabled = false;
          var first = error && error.fieldErrors ? showFieldErrors(form, error.fieldErrors) : null;
          show(explain(error));
          if (first) { first.focus(); } else { submit.focus(); }
        });
    });
    ready(form.querySelector("[type=submit]"));
  }

  var enrollForm = document.getElementById("enroll-form");
  if (enrollForm) {
    registerForm(enrollForm, function (form) {
      return {
        password: form.elements.password.value,
        password_confirm: form.elements.password_confirm.value,
        nickname: form.elements.nickname.value
      };
    });
  }
  var addForm = document.getElementById("credential-add-form");
  if (addForm) {
    registerForm(addForm, function (form) { return { nickname: form.elements.nickname.value }; });
  }
})();
