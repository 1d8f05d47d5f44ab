/* Touchstone — small progressive enhancements. Every page works without this file.
   No inline handlers anywhere (strict CSP): behaviour hangs off data- attributes. */
(function () {
  "use strict";

  /* Forms marked data-autosubmit submit when a select changes (the organization switcher);
     their submit button stays for keyboard users and without JavaScript, but is hidden. */
  function enhanceAutosubmit(root) {
    root.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
      if (form.dataset.enhanced) return;
      form.dataset.enhanced = "1";
      var button = form.querySelector("[data-autosubmit-button]");
      if (button) button.hidden = true;
      form.querySelectorAll("select").forEach(function (select) {
        select.addEventListener("change", function () { form.requestSubmit(); });
      });
    });
  }

  /* Buttons marked data-copy="<element id>" copy that element's text (the new API token). */
  function enhanceCopy(root) {
    root.querySelectorAll("[data-copy]").forEach(function (button) {
      if (button.dataset.enhanced) return;
      button.dataset.enhanced = "1";
      if (!navigator.clipboard) { button.hidden = true; return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.dataset.copy);
        if (!source) return;
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          var status = document.getElementById(button.dataset.copy + "-status");
          if (status) status.textContent = "Copied to the clipboard.";
        });
      });
    });
  }

  function enhance(root) {
    enhanceAutosubmit(root);
    enhanceCopy(root);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });
})();
