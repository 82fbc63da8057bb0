// The activate page of the portal's authenticator: ask every two seconds whether the phone
// has activated the app, and go on (the page's Continue form, which then asks for the app's
// passcode) as soon as it has. Without this script the person presses Continue.
(function () {
  "use strict";

  var INTERVAL_MS = 2000;
  var GIVE_UP_MS = 30 * 60 * 1000;

  function start() {
    var form = document.querySelector("form[data-activation-wait]");
    var status = document.querySelector("[data-activation-status]");
    if (!form || !window.fetch) {
      return;
    }
    var url = form.getAttribute("data-status-url");
    var began = Date.now();
    if (status) {
      status.textContent = "Waiting for your phone…";
    }

    function check() {
      if (Date.now() - began > GIVE_UP_MS) {
        if (status) {
          status.textContent = "Still waiting for your phone. Press Continue once it is activated.";
        }
        return;
      }
      window
        .fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
          if (!response.ok || response.redirected || !json) {
            // The setup ended or moved on in another window: the page itself says where.
            throw new Error("stop");
          }
          return response.json();
        })
        .then(function (data) {
          if (data.activated) {
            if (status) {
              status.textContent = "Your phone is activated.";
            }
            if (form.requestSubmit) {
              form.requestSubmit();
            } else {
              form.submit();
            }
            return;
          }
          window.setTimeout(check, INTERVAL_MS);
        })
        .catch(function (error) {
          if (error && error.message === "stop") {
            if (status) {
              status.textContent = "This page is out of date. Press Continue.";
            }
            return;
          }
          window.setTimeout(check, INTERVAL_MS);
        });
    }

    window.setTimeout(check, INTERVAL_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
