// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // After a failed submit, move focus to the error summary so keyboard and screen-reader
  // users land on what went wrong (WCAG 3.3.1). Pages mark the target with data-autofocus.
  function focusFirstMarked() {
    var target = document.querySelector("[data-autofocus]");
    if (target) {
      target.focus();
    }
  }

  // Links in an error summary jump to the field itself, not just scroll to it.
  function bindErrorLinks() {
    var links = document.querySelectorAll(".error-summary a[href^='#']");
    Array.prototype.forEach.call(links, function (link) {
      link.addEventListener("click", function (event) {
        var field = document.getElementById(link.getAttribute("href").slice(1));
        if (field) {
          event.preventDefault();
          field.focus();
          field.scrollIntoView({ block: "center" });
        }
      });
    });
  }

  // CAPTCHA: "Show a new picture" without leaving the page. The server's refresh view
  // answers {key, image_url, audio_url}; the hidden key, the picture and the audio link take
  // the new values, the answer box is emptied and focused, and the status line says so.
  // Without this script the control is a link that reloads the page with a new picture.
  function bindCaptcha(widget) {
    var button = widget.querySelector("[data-captcha-refresh]");
    var reload = widget.querySelector("[data-captcha-reload]");
    var image = widget.querySelector("[data-captcha-image]");
    var key = widget.querySelector("[data-captcha-key]");
    var answer = widget.querySelector("[data-captcha-answer]");
    var audio = widget.querySelector("[data-captcha-audio]");
    var status = widget.querySelector("[data-captcha-status]");
    if (!button || !image || !key || !answer || !window.fetch) {
      return;
    }

    var loading = false;

    function say(text) {
      if (status) {
        status.textContent = text;
      }
    }

    // The page itself can draw a new picture too: load it again, as the link would.
    function fail() {
      window.location.assign(reload ? reload.href : window.location.href);
    }

    button.addEventListener("click", function () {
      if (loading) {
        return;
      }
      loading = true;
      say("");
      window
        .fetch(button.getAttribute("data-captcha-refresh"), {
          credentials: "same-origin",
          headers: { "X-Requested-With": "XMLHttpRequest", Accept: "application/json" },
        })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("refresh answered " + response.status);
          }
          return response.json();
        })
        .then(function (data) {
          key.value = data.key;
          image.src = data.image_url;
          if (audio && data.audio_url) {
            audio.href = data.audio_url;
          }
          answer.value = "";
          answer.focus();
          say("New picture loaded");
        })
        .catch(fail)
        .then(function () {
          loading = false;
        });
    });

    button.hidden = false;
    if (reload) {
      reload.hidden = true;
    }
  }

  function bindCaptchas() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-captcha]"), bindCaptcha);
  }

  // Every submit is safe to press twice: once a form is on its way, a second press (or Enter)
  // does nothing, and its buttons say so. The button pressed keeps its name and value in the
  // post through a hidden copy, since a disabled button is left out of the form's data.
  function onSubmit(event) {
    var form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement)) {
      return;
    }
    if (form.getAttribute("aria-busy") === "true") {
      event.preventDefault();
      return;
    }
    form.setAttribute("aria-busy", "true");
    var submitter = event.submitter;
    if (submitter && submitter.name && submitter.type !== "image" && submitter.form === form) {
      var copy = document.createElement("input");
      copy.type = "hidden";
      copy.name = submitter.name;
      copy.value = submitter.value;
      copy.setAttribute("data-submitter-copy", "");
      form.appendChild(copy);
    }
    Array.prototype.forEach.call(form.elements, function (control) {
      var submits = control.type === "submit" || control.type === "image";
      if (submits && !control.disabled) {
        control.disabled = true;
        control.setAttribute("data-disabled-on-submit", "");
      }
    });
  }

  // A page shown again from the back/forward cache is as it was left: mid-submit. Make its
  // forms usable again.
  function onPageShow(event) {
    if (!event.persisted) {
      return;
    }
    Array.prototype.forEach.call(document.querySelectorAll("form[aria-busy='true']"), function (form) {
      form.removeAttribute("aria-busy");
      Array.prototype.forEach.call(form.querySelectorAll("[data-submitter-copy]"), function (copy) {
        copy.parentNode.removeChild(copy);
      });
      Array.prototype.forEach.call(form.elements, function (control) {
        if (control.hasAttribute("data-disabled-on-submit")) {
          control.disabled = false;
          control.removeAttribute("data-disabled-on-submit");
        }
      });
    });
  }

  document.addEventListener("submit", onSubmit);
  window.addEventListener("pageshow", onPageShow);

  // Copy and print buttons (a guest key): hidden in the markup, shown here where they work.
  // "Copy" puts the text of the element named by data-copy on the clipboard and says so in
  // the status line named by data-copy-status, which screen readers announce.
  function bindCopyAndPrint() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var status = document.getElementById(button.getAttribute("data-copy-status"));
      if (!source || !navigator.clipboard) {
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(source.textContent.trim()).then(
          function () {
            if (status) {
              status.textContent = "Copied.";
            }
          },
          function () {
            if (status) {
              status.textContent = "Could not copy: select the key and copy it yourself.";
            }
          }
        );
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        window.print();
      });
    });
  }

  function start() {
    bindCaptchas();
    focusFirstMarked();
    bindErrorLinks();
    bindCopyAndPrint();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
