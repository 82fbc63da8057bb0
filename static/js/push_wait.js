// The page that waits for a push to be answered on the phone (sign-in, step-up, reset).
//
// Progressive enhancement: without this file the person presses "I approved it — continue".
// With it, the page asks the push's status URL every 2 seconds (every 5 after the first 20),
// and as soon as the push is no longer pending it sends the continue form itself, so the
// server says what happened. The status line counts down to the push's expiry.
(function () {
  "use strict";

  var FAST_MS = 2000;
  var SLOW_MS = 5000;
  var FAST_FOR_MS = 20000;
  // One last question just after the expiry, so the server can say the push has expired.
  var AFTER_EXPIRY_MS = 1000;

  function secondsText(seconds) {
    return seconds === 1 ? "1 second" : seconds + " seconds";
  }

  function start(panel) {
    var statusUrl = panel.getAttribute("data-status-url");
    var form =
      panel.querySelector("form[data-push-check]") || document.querySelector("form[data-push-check]");
    var status = panel.querySelector("[role='status']");
    if (!statusUrl || !form || !window.fetch) {
      return;
    }

    var startedAt = Date.now();
    var expiresIn = parseInt(panel.getAttribute("data-expires-in"), 10);
    var deadline = startedAt + (isNaN(expiresIn) ? 60 : Math.max(0, expiresIn)) * 1000;
    var pollTimer = 0;
    var clockTimer = 0;
    var finished = false;
    var lastShown = "";

    function say(text) {
      if (status && text !== lastShown) {
        lastShown = text;
        status.textContent = text;
      }
    }

    function secondsLeft() {
      return Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    }

    // Screen readers hear the line each time it changes, so it changes every 5 seconds (and
    // each of the last 5): often enough to know the time left, not so often as to drown it.
    function showCountdown(first) {
      var left = secondsLeft();
      if (left === 0) {
        say("The push has expired. Checking with the portal…");
      } else if (first || left <= 5 || left % 5 === 0) {
        say("Waiting for your approval… " + secondsText(left) + " left");
      }
    }

    function tick() {
      if (finished) {
        return;
      }
      showCountdown(!lastShown);
      if (secondsLeft() > 0) {
        clockTimer = window.setTimeout(tick, 1000 - ((Date.now() - startedAt) % 1000));
      }
    }

    function finish(state) {
      if (finished) {
        return;
      }
      finished = true;
      window.clearTimeout(pollTimer);
      window.clearTimeout(clockTimer);
      say(state === "approved" ? "Approved on your phone. Continuing…" : "Continuing…");
      if (typeof form.requestSubmit === "function") {
        form.requestSubmit();
      } else {
        form.submit();
      }
    }

    function giveUp() {
      finished = true;
      window.clearTimeout(pollTimer);
      window.clearTimeout(clockTimer);
      say("The push has expired. Press the button below to continue.");
    }

    function schedule() {
      if (finished) {
        return;
      }
      var now = Date.now();
      if (now >= deadline + AFTER_EXPIRY_MS) {
        giveUp();
        return;
      }
      var wait = now - startedAt < FAST_FOR_MS ? FAST_MS : SLOW_MS;
      // Never wait past the expiry: the last question comes just after it.
      wait = Math.min(wait, Math.max(0, deadline + AFTER_EXPIRY_MS - now));
      pollTimer = window.setTimeout(check, wait);
    }

    function check() {
      if (finished) {
        return;
      }
      var afterExpiry = Date.now() >= deadline;
      window
        .fetch(statusUrl, {
          credentials: "same-origin",
          cache: "no-store",
          headers: { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" },
        })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("status answered " + response.status);
          }
          return response.json();
        })
        .then(function (data) {
          if (data && data.state && data.state !== "pending") {
            finish(data.state);
            return;
          }
          if (data && typeof data.expires_in === "number" && data.expires_in >= 0) {
            deadline = Date.now() + data.expires_in * 1000;
          }
          if (afterExpiry && secondsLeft() === 0) {
            giveUp();
            return;
          }
          schedule();
        })
        .catch(function () {
          // A lost connection or a busy server: keep asking until the push expires.
          if (afterExpiry && secondsLeft() === 0) {
            giveUp();
            return;
          }
          schedule();
        });
    }

    tick();
    schedule();
  }

  function startAll() {
    var panels = document.querySelectorAll("[data-push-wait]");
    Array.prototype.forEach.call(panels, start);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startAll);
  } else {
    startAll();
  }
})();
