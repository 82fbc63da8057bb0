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

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      focusFirstMarked();
      bindErrorLinks();
    });
  } else {
    focusFirstMarked();
    bindErrorLinks();
  }
})();
