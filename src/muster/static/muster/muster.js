// Muster: behaviour for the counter forms. Loaded as a file (no inline script: the CSP forbids it).
//
// A keyboard-wedge scanner types the code and then Enter. In a form marked .scan-form, Enter in a scanned field
// (data-scan) moves the focus to the next empty scanned field; only when none is left does Enter submit.
(function () {
  "use strict";

  function nextEmptyScanField(field) {
    var fields = Array.prototype.slice.call(field.form.querySelectorAll("input[data-scan]"));
    var after = fields.slice(fields.indexOf(field) + 1);
    for (var i = 0; i < after.length; i++) {
      if (!after[i].value.trim()) {
        return after[i];
      }
    }
    return null;
  }

  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (event.key !== "Enter" || !field.matches || !field.matches(".scan-form input[data-scan]")) {
      return;
    }
    var next = nextEmptyScanField(field);
    if (next) {
      event.preventDefault();
      next.focus();
    }
  });

  // Over a request rate (429; core.throttling) htmx swaps nothing in: say so above the form, or a scan at the counter
  // would seem to do nothing. The form stays as it was, so the scan can be repeated after the wait.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail && event.detail.xhr;
    var target = event.detail && event.detail.target;
    if (!xhr || xhr.status !== 429 || !target || !target.parentNode) {
      return;
    }
    var wait = parseInt(xhr.getResponseHeader("Retry-After") || "", 10);
    var notice = target.parentNode.querySelector(":scope > .muster-rate-notice") || document.createElement("div");
    notice.className = "alert alert-warning muster-rate-notice";
    notice.setAttribute("role", "alert");
    notice.textContent =
      "Too many requests from this account: nothing was done. Try again" +
      (wait > 0 ? " in " + wait + " seconds." : " in a moment.");
    target.parentNode.insertBefore(notice, target);
    // The code the scanner typed is still in the field: select it, so the next scan replaces it.
    var form = event.detail.elt;
    var field = form && form.querySelector && form.querySelector("[autofocus], input[data-scan]");
    if (field && field.select) {
      field.focus();
      field.select();
    }
  });

  // After htmx swaps in a fresh form, put the cursor back in the first field for the next scan.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    var stale = target && target.parentNode && target.parentNode.querySelector(":scope > .muster-rate-notice");
    if (stale) {
      stale.remove(); // the request went through this time
    }
    var first = target && target.querySelector && target.querySelector("[autofocus]");
    if (first) {
      first.focus();
      if (first.select && first.value) {
        first.select(); // a re-rendered form after an error: the next scan replaces the old value
      }
    }
  });
})();

// Training results: one row per trainee. Ticking "passed" ticks "attended" (nobody passes unseen); unticking
// "attended" unticks "passed". A header checkbox (data-check-all) ticks or clears its whole column.
(function () {
  "use strict";

  function rowBox(row, column) {
    return row && row.querySelector('input[type=checkbox][data-col="' + column + '"]');
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches) {
      return;
    }
    if (box.matches("input[data-check-all]")) {
      var table = box.closest("table");
      var column = box.getAttribute("data-check-all");
      table.querySelectorAll('tbody input[type=checkbox][data-col="' + column + '"]').forEach(function (cell) {
        if (cell.checked !== box.checked) {
          cell.checked = box.checked;
          cell.dispatchEvent(new Event("change", { bubbles: true }));
        }
      });
      return;
    }
    var row = box.closest("tr");
    if (box.matches('input[data-col="passed"]') && box.checked) {
      var attended = rowBox(row, "attended");
      if (attended) {
        attended.checked = true;
      }
    } else if (box.matches('input[data-col="attended"]') && !box.checked) {
      var passed = rowBox(row, "passed");
      if (passed) {
        passed.checked = false;
      }
    }
  });
})();
