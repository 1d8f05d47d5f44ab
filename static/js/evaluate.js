/* The evaluation form's small enhancements. The form works without this file; with it,
   "observed at" is read in the phone's own time zone, a numeric "Not applicable" and its
   value stay consistent, a double tap submits once, and the error summary is announced. */
(function () {
  "use strict";

  /* The browser's IANA zone (e.g. Europe/Oslo), so a typed local time means local time. */
  function fillTimeZone(root) {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    root.querySelectorAll("input[data-timezone]").forEach(function (input) {
      if (!input.value) input.value = zone;
    });
  }

  /* Ticking "Not applicable" greys the number (kept, never cleared: nothing typed is lost);
     typing a number unticks it again. */
  function linkNumericNotApplicable(root) {
    root.querySelectorAll("input[data-numeric-na]").forEach(function (box) {
      var number = document.getElementById(box.dataset.numericNa);
      if (!number) return;
      function sync() {
        number.readOnly = box.checked;
        number.classList.toggle("numeric__input--na", box.checked);
      }
      box.addEventListener("change", sync);
      number.addEventListener("input", function () {
        if (box.checked && number.value !== "") { box.checked = false; sync(); }
      });
      number.addEventListener("click", function () {
        if (box.checked) { box.checked = false; sync(); number.focus(); }
      });
      sync();
    });
  }

  /* One submission per tap: later taps are ignored until the page is shown again. The
     server refuses a repeated client key anyway; this only spares the second request. */
  function submitOnce(root) {
    root.querySelectorAll("form[data-evaluation-form]").forEach(function (form) {
      var button = form.querySelector("[data-submit]");
      var label = button ? button.textContent : "";
      form.addEventListener("submit", function (event) {
        if (form.dataset.submitting) { event.preventDefault(); return; }
        form.dataset.submitting = "1";
        if (button) { button.setAttribute("aria-disabled", "true"); button.textContent = "Submitting…"; }
      });
      window.addEventListener("pageshow", function () {
        delete form.dataset.submitting;
        if (button) { button.removeAttribute("aria-disabled"); button.textContent = label; }
      });
    });
  }

  /* Move focus to the error summary so it is read out and the first link is one tab away. */
  function focusErrorSummary(root) {
    var summary = root.querySelector("[data-error-summary]");
    if (summary) summary.focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    fillTimeZone(document);
    linkNumericNotApplicable(document);
    submitOnce(document);
    focusErrorSummary(document);
  });
})();
