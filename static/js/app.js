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

  /* Text fields with a maxlength get a visible counter instead of silently cutting what is
     pasted: the limit moves to data-maxlength (the server refuses what is too long, with a
     message beside the field), the counter says how many characters and how many too many. */
  function enhanceCounters(root) {
    var fields = root.querySelectorAll("input[maxlength]:not([type='hidden']), textarea[maxlength]");
    fields.forEach(function (field) {
      if (field.dataset.maxlength || !field.id) return;
      var max = parseInt(field.getAttribute("maxlength"), 10);
      if (!(max > 0)) return;
      field.dataset.maxlength = String(max);
      field.removeAttribute("maxlength");
      var counter = document.createElement("span");
      counter.className = "char-count";
      counter.id = field.id + "-count";
      field.insertAdjacentElement("afterend", counter);
      var described = field.getAttribute("aria-describedby");
      field.setAttribute("aria-describedby", described ? described + " " + counter.id : counter.id);
      function update() {
        var length = Array.from(field.value).length;
        var over = length - max;
        counter.textContent = length + " / " + max + " characters" + (over > 0 ? ": " + over + " too many" : "");
        counter.classList.toggle("char-count--over", over > 0);
      }
      field.addEventListener("input", update);
      update();
    });
  }

  /* A score line wider than its box: show the cue, and scroll so the weakest point
     (data-scroll-to, in the chart's own units) sits in the middle of the view. */
  function enhanceScrollers(root) {
    root.querySelectorAll("[data-scroll-width]").forEach(function (box) {
      if (box.scrollWidth <= box.clientWidth + 1) return;
      var cue = box.parentElement.querySelector("[data-scroll-cue]");
      if (cue) cue.hidden = false;
      var x = parseFloat(box.dataset.scrollTo);
      var width = parseFloat(box.dataset.scrollWidth);
      if (x >= 0 && width > 0) {
        box.scrollLeft = Math.max(0, x / width * box.scrollWidth - box.clientWidth / 2);
      }
    });
  }

  /* Export links (data-export): the file is fetched here, so the page can say what is
     happening: "Preparing…" until the first bytes, then a progress bar -- against the
     record count the server announces (X-Export-Rows) for a streamed CSV, else the bytes
     received -- then the browser's own download of the finished file. A refusal (429:
     the organization's export allowance is used up) says when to try again. Without
     JavaScript, or without streams, the link is an ordinary download. */
  function enhanceExports(root) {
    if (!window.fetch || !window.ReadableStream || !window.URL || !URL.createObjectURL) return;
    root.querySelectorAll("a[data-export]").forEach(function (link) {
      if (link.dataset.enhanced) return;
      link.dataset.enhanced = "1";
      var status = document.createElement("span");
      status.className = "export-status";
      status.setAttribute("role", "status");
      link.insertAdjacentElement("afterend", status);
      link.addEventListener("click", function (event) {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        if (link.getAttribute("aria-busy") === "true") return;
        runExport(link, status);
      });
    });
  }

  function say(status, text, bar) {
    status.textContent = "";
    if (bar) status.appendChild(bar);
    status.appendChild(document.createTextNode(text));
  }

  function fileName(response, link) {
    var match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    return match ? match[1] : (link.getAttribute("download") || "export");
  }

  function runExport(link, status) {
    var noun = link.dataset.exportNoun || "records";
    var bar = document.createElement("progress");
    bar.className = "export-progress";
    bar.setAttribute("aria-label", "Export progress");
    link.setAttribute("aria-busy", "true");
    status.classList.remove("export-status--error");
    say(status, link.dataset.export === "pdf" ? " Preparing the PDF…" : " Preparing…", bar);
    function done(text, failed) {
      link.removeAttribute("aria-busy");
      status.classList.toggle("export-status--error", !!failed);
      say(status, text);
    }
    fetch(link.href, {credentials: "same-origin", headers: {"Accept": "text/csv, application/pdf, application/json"}})
      .then(function (response) {
        if (response.status === 429) {
          var wait = response.headers.get("Retry-After") || "a few";
          return done("Your organization has used its exports for now: try again in " + wait + " seconds.", true);
        }
        if (!response.ok || !response.body) {
          return done("The export failed (" + response.status + "). Reload the page and try again.", true);
        }
        var total = parseInt(response.headers.get("X-Export-Rows") || "", 10);
        var reader = response.body.getReader();
        var parts = [], bytes = 0, lines = 0;
        if (total >= 0) bar.max = Math.max(total, 1);
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) return;
            parts.push(chunk.value);
            bytes += chunk.value.length;
            for (var i = 0; i < chunk.value.length; i++) if (chunk.value[i] === 10) lines++;
            if (total >= 0) {
              var rows = Math.min(Math.max(lines - 2, 0), total);  /* two header lines */
              bar.value = rows;
              say(status, " " + rows.toLocaleString() + " of " + total.toLocaleString() + " " + noun, bar);
            } else {
              say(status, " " + (bytes / 1024).toFixed(0) + " kB received", bar);
            }
            return pump();
          });
        }
        return pump().then(function () {
          var blob = new Blob(parts, {type: response.headers.get("Content-Type") || "application/octet-stream"});
          var url = URL.createObjectURL(blob);
          var save = document.createElement("a");
          save.href = url;
          save.download = fileName(response, link);
          save.hidden = true;
          document.body.appendChild(save);
          save.click();
          save.remove();
          setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
          done(total >= 0 ? " Downloaded " + total.toLocaleString() + " " + noun + "." : " Downloaded.");
        });
      })
      .catch(function () { done("The export was interrupted. Check the connection and try again.", true); });
  }

  function enhance(root) {
    enhanceExports(root);
    enhanceAutosubmit(root);
    enhanceCopy(root);
    enhanceCounters(root);
    enhanceScrollers(root);
  }

  /* The journey map refreshes itself when a score lands (#map-body, and each pending card,
     poll for it). While a manager has an edit open, has typed into an editor form, is
     dragging a stage or touch point (Sortable marks the held item .sortable-chosen), or waits
     for the answer to a drop (htmx marks the list that posted it .htmx-request), that refresh
     waits, so nothing in progress is wiped; it runs once the edit is closed or saved. (A
     refresh swapped in mid-drag replaced the lists under the pointer: the drop was lost.)
     (CSRF: every htmx request sends the token from hx-headers on <body>.) */
  var refreshWaiting = false;

  function editInProgress() {
    var map = document.getElementById("map-body");
    if (!map) return false;
    if (map.querySelector("details.editor[open], .sortable-chosen, ol.htmx-request")) return true;
    return Array.prototype.some.call(
      map.querySelectorAll(".editor-form input[type='text'], .editor-form textarea"),
      function (field) { return field.value !== field.defaultValue; }
    );
  }

  function isRefresh(event) {
    var elt = event.detail.elt;
    var config = event.detail.requestConfig;
    return config && config.verb === "get" && elt &&
      (elt.id === "map-body" || elt.classList.contains("tp-card"));
  }

  function resumeRefresh() {
    if (refreshWaiting && !editInProgress()) {
      refreshWaiting = false;
      htmx.trigger(document.body, "touchstone:scored");
    }
  }

  /* The "changed since" watcher (#live-watch) asks nothing while the tab is hidden; when
     the tab shows again it asks at once, so a page left in the background is fresh when
     looked at, and 50 background tabs cost the server nothing. */
  document.addEventListener("visibilitychange", function () {
    var watch = document.getElementById("live-watch");
    if (watch && document.visibilityState === "visible") htmx.trigger(watch, "touchstone:visible");
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.id === "live-watch" && document.visibilityState === "hidden") {
      event.preventDefault();
      return;
    }
    if (isRefresh(event) && editInProgress()) {
      event.preventDefault();
      refreshWaiting = true;
    }
  });
  document.addEventListener("toggle", resumeRefresh, true);  /* toggle does not bubble */
  document.addEventListener("touchstone:dropped", resumeRefresh);  /* from editor.js */
  document.addEventListener("htmx:afterSettle", resumeRefresh);

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });
})();
