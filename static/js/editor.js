/* Touchstone — the structure editor, on managers' pages only. Every change is a plain form
   (or a POST from a drop) that the server answers with fresh HTML from the database; this
   file adds drag and drop (SortableJS), keeps keyboard focus on the control just used,
   shows only the fields of the chosen criterion kind, and announces what happened.
   No inline code anywhere (strict CSP): behaviour hangs off classes and data- attributes. */
(function () {
  "use strict";

  var focusKey = null;

  function post(source, url, target, values) {
    htmx.ajax("POST", url, { source: source, target: target, swap: "outerHTML", values: values });
  }

  function stageOf(list) {
    var slot = list.closest("li.stage").querySelector("[data-edit-controls='stage']");
    return slot ? slot.dataset.stage : "";
  }

  /* The item is let go: a refresh held back by the drag may run (app.js). Next tick, so a
     drop that moved something has posted by then and the refresh waits for its answer. */
  function dropped() {
    setTimeout(function () {
      document.dispatchEvent(new CustomEvent("touchstone:dropped"));
    }, 0);
  }

  function once(element) {
    if (element.dataset.sortable) return false;
    element.dataset.sortable = "1";
    return true;
  }

  /* Stages drag by their handle; touch points drag within and across stages. The drop only
     asks the server; the map that comes back is the order the database holds. */
  function sortableMap(root) {
    if (typeof Sortable === "undefined") return;
    root.querySelectorAll("ol.map").forEach(function (map) {
      if (!once(map)) return;
      Sortable.create(map, {
        handle: ".drag-handle--stage", draggable: "li.stage", animation: 150, forceFallback: true,
        onUnchoose: dropped,
        onEnd: function (evt) {
          if (evt.oldIndex === evt.newIndex) return;
          var slot = evt.item.querySelector("[data-edit-controls='stage']");
          post(map, slot.dataset.moveUrl, "#map-body", { position: evt.newIndex });
        }
      });
    });
    root.querySelectorAll("li.stage ol.cards").forEach(function (list) {
      if (!once(list)) return;
      Sortable.create(list, {
        group: "touch-points", handle: ".card-tools .drag-handle", draggable: "li.tp-card",
        animation: 150, forceFallback: true, onUnchoose: dropped, emptyInsertThreshold: 40,
        onEnd: function (evt) {
          if (evt.from === evt.to && evt.oldIndex === evt.newIndex) return;
          var values = { position: evt.newIndex };
          if (evt.from !== evt.to) values.stage = stageOf(evt.to);
          post(evt.to, evt.item.querySelector("[data-move-url]").dataset.moveUrl, "#map-body", values);
        }
      });
    });
    root.querySelectorAll("[data-sortable-criteria]").forEach(function (list) {
      if (!once(list)) return;
      Sortable.create(list, {
        handle: ".drag-handle", draggable: "li.criterion-item", animation: 150, forceFallback: true,
        onUnchoose: dropped,
        onEnd: function (evt) {
          if (evt.oldIndex === evt.newIndex) return;
          post(list, evt.item.dataset.moveUrl, "#criteria-editor", { position: evt.newIndex });
        }
      });
    });
  }

  /* A criterion form shows the fields of the chosen kind only (all of them without JS). */
  function kindFields(root) {
    root.querySelectorAll("form").forEach(function (form) {
      var choices = form.querySelectorAll("[data-kind-choice]");
      if (!choices.length || form.dataset.kinds) return;
      form.dataset.kinds = "1";
      function show() {
        var checked = form.querySelector("[data-kind-choice]:checked");
        form.querySelectorAll("[data-kind-fields]").forEach(function (fields) {
          fields.hidden = !checked || fields.dataset.kindFields !== checked.value;
        });
      }
      choices.forEach(function (choice) { choice.addEventListener("change", show); });
      show();
    });
  }

  function visible(element) { return element && element.offsetParent !== null; }

  /* After a keyboard move the list is redrawn: focus goes back to the same button of the
     same item, or to its neighbour in the group when that move is no longer possible. */
  function restoreFocus() {
    if (!focusKey) return;
    var active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return;  // focus was kept
    var key = focusKey;
    var button = document.querySelector("[data-focus-key='" + CSS.escape(key) + "']");
    if (button && !visible(button)) {
      var group = button.closest(".editor__moves");
      button = group && Array.prototype.find.call(group.querySelectorAll("button"), visible);
    }
    if (button) button.focus();
  }

  function announce(root) {
    var status = document.getElementById("editor-status");
    var message = root.querySelector("[data-editor-message]");
    if (status && message) status.textContent = message.textContent.trim();
  }

  function focusFirstError(root) {
    var invalid = root.querySelector("[aria-invalid='true']");
    if (invalid) invalid.focus();
  }

  function enhance(root) {
    sortableMap(root);
    kindFields(root);
  }

  /* Sortable's animation leaves style attributes (often empty) on the items it moved. htmx
     copies the old attributes onto the new elements while settling, and a copied style
     attribute is an inline style the strict CSP refuses: drop them before the swap. */
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target) return;
    /* One criteria editor at a time on the map (its ids are the page's): opening a card's
       criteria puts the others back to their button. */
    if (target.classList.contains("criteria-slot")) {
      document.querySelectorAll(".criteria-slot").forEach(function (slot) {
        if (slot !== target && slot.querySelector("#criteria-editor") && slot.dataset.loader) {
          slot.innerHTML = slot.dataset.loader;
          htmx.process(slot);
        }
      });
      if (!target.dataset.loader) target.dataset.loader = target.innerHTML;
    }
    target.querySelectorAll("[style]").forEach(function (element) {
      element.removeAttribute("style");
    });
  });

  /* The move button the keyboard is on, kept until focus goes anywhere else: every redraw
     that loses focus (the move's answer, or a live refresh settling after it, in either
     order) puts it back on the same button. */
  document.addEventListener("focusin", function (event) {
    var target = event.target;
    focusKey = target && target.dataset ? target.dataset.focusKey || null : null;
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var root = event.detail.elt;
    if (!(root instanceof Element) || !root.isConnected) root = document.body;
    announce(root);
    restoreFocus();
    focusFirstError(root);
  });
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });
})();
