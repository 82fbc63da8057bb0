// Security keys and passkeys: the WebAuthn ceremony of every form marked data-webauthn.
//
//   <form data-webauthn="register" data-options-url="...">      the wizard's key stage
//   <form data-webauthn="authenticate" data-options-url="..." data-step="signin|step_up|reset">
//
// Pressing the button marked data-webauthn-start asks the portal for the ceremony's options
// (a POST with the form's CSRF token, and its device and step), hands them to the browser
// (navigator.credentials.create or .get), puts the browser's answer as JSON in the hidden
// field marked data-webauthn-credential and submits the form; the server checks it. What
// went wrong (cancelled, timed out, not supported) is said in the form's role=alert element
// (data-webauthn-error), and progress in its role=status element (data-webauthn-status).
// Other buttons of the form (Back) submit as usual.
(function () {
  "use strict";

  var MESSAGES = {
    unsupported:
      "This browser cannot use security keys or passkeys. Use an up-to-date browser, " +
      "or choose another way.",
    insecure:
      "Security keys work only at the portal's own secure address. Check the address, " +
      "then try again.",
    cancelled:
      "The request to your key was cancelled, or no key answered. Select the button to " +
      "try again.",
    timeout:
      "Your key did not answer in time. Insert it (or unlock your phone), then select the " +
      "button to try again.",
    registered:
      "This key is already registered to your account. Use another key, or go back and " +
      "choose another type of device.",
    start: "We could not start talking to your key. Reload the page and try again.",
    failed: "Your key did not answer. Try again, or choose another way.",
    waitingRegister: "Insert your key and touch it, or follow what your browser asks.",
    waitingAuthenticate: "Insert your key or use your passkey, then touch it.",
    sending: "Checking the answer from your key.",
  };

  // base64url (RFC 4648 section 5, no padding) <-> ArrayBuffer --------------------------------

  function toBuffer(text) {
    var base64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
    var binary = window.atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i += 1) {
      binary += String.fromCharCode(bytes[i]);
    }
    return window.btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The options, from the JSON the portal sends (py_webauthn's options_to_json) ---------------

  function descriptor(json) {
    return Object.assign({}, json, { id: toBuffer(json.id) });
  }

  function creationOptions(json) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      user: Object.assign({}, json.user, { id: toBuffer(json.user.id) }),
      excludeCredentials: (json.excludeCredentials || []).map(descriptor),
    });
  }

  function requestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      allowCredentials: (json.allowCredentials || []).map(descriptor),
    });
  }

  // The answer, as the JSON py_webauthn's parse_*_credential_json read ------------------------

  function serialize(credential) {
    if (typeof credential.toJSON === "function") {
      try {
        return JSON.stringify(credential.toJSON());
      } catch (error) {
        // Some browsers have toJSON but cannot serialise every extension: do it by hand.
      }
    }
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults
        ? credential.getClientExtensionResults()
        : {},
      response: { clientDataJSON: toBase64url(response.clientDataJSON) },
    };
    if (response.attestationObject) {
      json.response.attestationObject = toBase64url(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toBase64url(response.authenticatorData);
      json.response.signature = toBase64url(response.signature);
      json.response.userHandle = response.userHandle ? toBase64url(response.userHandle) : null;
    }
    return JSON.stringify(json);
  }

  // Talking to the portal -------------------------------------------------------------------

  function fetchOptions(form) {
    var body = new URLSearchParams();
    var token = form.querySelector("input[name='csrfmiddlewaretoken']");
    var device = form.querySelector("input[name='device']");
    body.append("csrfmiddlewaretoken", token ? token.value : "");
    if (device) {
      body.append("device", device.value);
    }
    if (form.getAttribute("data-step")) {
      body.append("step", form.getAttribute("data-step"));
    }
    return window
      .fetch(form.getAttribute("data-options-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" },
        body: body,
      })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            if (!response.ok || !data.challenge) {
              var refused = new Error("options refused");
              refused.portalMessage = data.error || MESSAGES.start;
              throw refused;
            }
            return data;
          });
      });
  }

  // The page --------------------------------------------------------------------------------

  function say(form, selector, text, prefix) {
    var target = form.querySelector(selector);
    if (!target) {
      return;
    }
    target.textContent = "";
    if (text) {
      var line = document.createElement("p");
      if (prefix) {
        var strong = document.createElement("strong");
        strong.className = "notice__prefix";
        strong.textContent = prefix;
        line.appendChild(strong);
        line.appendChild(document.createTextNode(" "));
      }
      line.appendChild(document.createTextNode(text));
      target.appendChild(line);
    }
    target.hidden = !text;
  }

  function showError(form, text) {
    say(form, "[data-webauthn-status]", "");
    say(form, "[data-webauthn-error]", text, "Error:");
  }

  function supported() {
    return Boolean(
      window.PublicKeyCredential &&
        navigator.credentials &&
        typeof navigator.credentials.create === "function" &&
        typeof navigator.credentials.get === "function"
    );
  }

  function messageFor(error, mode, started, timeout) {
    if (error && error.portalMessage) {
      return error.portalMessage;
    }
    var name = error && error.name;
    if (name === "InvalidStateError" && mode === "register") {
      return MESSAGES.registered;
    }
    if (name === "NotAllowedError" || name === "AbortError") {
      // Browsers give the same error for "cancelled" and "timed out": tell them apart by time.
      if (started && timeout && Date.now() - started >= timeout * 0.9) {
        return MESSAGES.timeout;
      }
      return MESSAGES.cancelled;
    }
    if (name === "NotSupportedError") {
      return MESSAGES.unsupported;
    }
    if (name === "SecurityError") {
      return MESSAGES.insecure;
    }
    if (!started) {
      return MESSAGES.start;
    }
    return MESSAGES.failed;
  }

  function submit(form, button) {
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit(button || undefined);
    } else {
      HTMLFormElement.prototype.submit.call(form);
    }
  }

  function onSubmit(event) {
    var form = event.currentTarget;
    var submitter = event.submitter;
    if (submitter && !submitter.hasAttribute("data-webauthn-start")) {
      return; // Back, or any other button of the form
    }
    if (form.getAttribute("data-webauthn-ready") === "true") {
      return; // the key's answer is in the form: let it go to the server
    }
    event.preventDefault();
    if (form.getAttribute("data-webauthn-busy") === "true") {
      return;
    }
    var button = submitter || form.querySelector("[data-webauthn-start]");
    var mode = form.getAttribute("data-webauthn");
    if (!supported()) {
      showError(form, MESSAGES.unsupported);
      return;
    }
    if (window.isSecureContext === false) {
      showError(form, MESSAGES.insecure);
      return;
    }
    var started = 0;
    var timeout = 0;
    form.setAttribute("data-webauthn-busy", "true");
    if (button) {
      button.disabled = true;
    }
    say(form, "[data-webauthn-error]", "");
    fetchOptions(form)
      .then(function (json) {
        timeout = Number(json.timeout) || 0;
        started = Date.now();
        if (mode === "register") {
          say(form, "[data-webauthn-status]", MESSAGES.waitingRegister);
          return navigator.credentials.create({ publicKey: creationOptions(json) });
        }
        say(form, "[data-webauthn-status]", MESSAGES.waitingAuthenticate);
        return navigator.credentials.get({ publicKey: requestOptions(json) });
      })
      .then(function (credential) {
        if (!credential) {
          var none = new Error("no credential");
          none.name = "NotAllowedError";
          throw none;
        }
        form.querySelector("[data-webauthn-credential]").value = serialize(credential);
        form.setAttribute("data-webauthn-ready", "true");
        form.removeAttribute("data-webauthn-busy");
        if (button) {
          button.disabled = false;
        }
        say(form, "[data-webauthn-status]", MESSAGES.sending);
        submit(form, button);
      })
      .catch(function (error) {
        form.removeAttribute("data-webauthn-busy");
        if (button) {
          button.disabled = false;
        }
        showError(form, messageFor(error, mode, started, timeout));
      });
  }

  function bind(form) {
    if (form.hasAttribute("data-webauthn-bound")) {
      return; // the script is included once per key on a page
    }
    form.setAttribute("data-webauthn-bound", "");
    form.addEventListener("submit", onSubmit);
  }

  // A page shown again from the back/forward cache must ask the key again: its challenge is used.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    Array.prototype.forEach.call(document.querySelectorAll("form[data-webauthn]"), function (form) {
      form.removeAttribute("data-webauthn-ready");
      form.removeAttribute("data-webauthn-busy");
      var field = form.querySelector("[data-webauthn-credential]");
      if (field) {
        field.value = "";
      }
    });
  });

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-webauthn]"), bind);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
