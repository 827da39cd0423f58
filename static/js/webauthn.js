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
    post(button.dataset.optionsUrl)
      .then(function (options) { return navigator.credentials.get(requestOptions(options)); })
      .then(function (credential) { return post(button.dataset.verifyUrl, JSON.stringify(assertionJSON(credential))); })
      .then(function (result) { window.location.assign(result.redirect); })
      .catch(function (error) { show(explain(error)); button.disabled = false; button.focus(); });
  }

  ["webauthn-login", "webauthn-unlock", "webauthn-reauth"].forEach(function (id) {
    var button = document.getElementById(id);
    if (button) { button.addEventListener("click", function () { assert(button); }); }
  });

  function registerForm(form, extra) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var submit = form.querySelector("[type=submit]");
      submit.disabled = true;
      show("");
      post(form.dataset.optionsUrl)
        .then(function (options) { return navigator.credentials.create(creationOptions(options)); })
        .then(function (credential) {
          var body = extra(form);
          body.credential = JSON.stringify(registrationJSON(credential));
          return post(form.dataset.completeUrl, JSON.stringify(body));
        })
        .then(function (result) { window.location.assign(result.redirect); })
        .catch(function (error) { show(explain(error)); submit.disabled = false; });
    });
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
