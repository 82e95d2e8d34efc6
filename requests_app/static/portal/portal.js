/* Access Portal: small progressive enhancements. Every page works without this script. */
(function () {
  "use strict";

  // Times are shown in the browser's zone: tell the server which one (read per request).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* old browser: the server keeps UTC */ }

  // "2h 13m", as the server writes it (policies_app.durations.humanize_duration).
  function human(seconds) {
    if (seconds < 60) return "less than a minute";
    seconds = Math.ceil(seconds / 60) * 60;  // whole minutes, rounded up, as the server does
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600),
        m = Math.floor(seconds % 3600 / 60);
    var parts = [];
    if (d) parts.push(d + "d");
    if (h) parts.push(h + "h");
    if (m) parts.push(m + "m");
    return parts.slice(0, 2).join(" ");
  }

  var refreshing = false;

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      var left = Math.round((at - now) / 1000);
      if (left <= 0) {
        el.textContent = el.getAttribute("data-done") || "now";
        el.classList.add("is-done");
        // The window opened or closed: let the server redraw the panel.
        var panel = el.closest("#access-panel");
        if (panel && window.htmx && !refreshing) {
          refreshing = true;
          window.setTimeout(function () { window.htmx.trigger(panel, "refresh"); refreshing = false; }, 1500);
        }
        return;
      }
      el.textContent = (el.getAttribute("data-prefix") || "") + " " + human(left);
      el.classList.toggle("is-soon", left < 15 * 60);
    });
    document.querySelectorAll("[data-timebar]").forEach(function (bar) {
      var start = Date.parse(bar.getAttribute("data-start")), end = Date.parse(bar.getAttribute("data-end"));
      if (isNaN(start) || isNaN(end) || end <= start) return;
      var left = Math.max(0, Math.min(1, (end - now) / (end - start)));
      bar.style.width = (left * 100).toFixed(2) + "%";
    });
  }

  // A form sends once: buttons are disabled right after the click has been submitted
  // (later, so the pressed button's name and value still go with the form).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute("hx-get") || form.hasAttribute("hx-post")) return;
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      document.querySelectorAll("button[form='" + form.id + "']").forEach(function (b) { b.disabled = true; });
    }, 0);
  });

  // Pages restored from the back/forward cache get their buttons back.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("button[type=submit]:disabled").forEach(function (b) { b.disabled = false; });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) return;
    field.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) event.target.select();
  });

  // Close the user menu when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll(".usermenu details[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  // Live resource search: a result list arriving while the user ticks boxes must not undo
  // the ticks. Remember what was ticked just before the swap and put it back after.
  var ticked = [];
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "resource-results") return;
    ticked = Array.prototype.map.call(
      event.detail.target.querySelectorAll("input[name=resources]:checked"),
      function (input) { return { value: input.value, label: input.closest("label").cloneNode(true) }; }
    );
  });
  document.addEventListener("htmx:afterSwap", function () {
    var results = document.getElementById("resource-results");
    if (!results || !ticked.length) return;
    var missing = [];
    ticked.forEach(function (item) {
      var input = Array.prototype.find.call(
        results.querySelectorAll("input[name=resources]"),
        function (i) { return i.value === item.value; }
      );
      if (input) input.checked = true;
      else missing.push(item);
    });
    if (missing.length) {
      var list = document.createElement("ul");
      list.className = "resource-list";
      missing.forEach(function (item) {
        var li = document.createElement("li");
        var input = item.label.querySelector("input");
        input.checked = true;
        // Keep ids unique beside the new results (they name the checkbox for screen readers).
        item.label.querySelectorAll("[id]").forEach(function (el) { el.id = "kept-" + el.id; });
        ["aria-labelledby", "aria-describedby"].forEach(function (attr) {
          if (input.hasAttribute(attr)) input.setAttribute(attr, "kept-" + input.getAttribute(attr));
        });
        li.appendChild(item.label);
        list.appendChild(li);
      });
      results.insertBefore(list, results.firstChild);
    }
    ticked = [];
  });

  // The "My access" panel refreshes itself (every 60 s, and when a window opens or closes).
  // A refresh never takes away what someone is doing: while a form inside it is open, has
  // focus or holds typed text, the refresh waits, and runs once the person is done.
  function panelBusy(panel) {
    if (panel.querySelector("details[open]")) return true;
    if (panel.contains(document.activeElement) && document.activeElement !== panel) return true;
    return Array.prototype.some.call(panel.querySelectorAll("input[type=text], textarea"),
      function (field) { return field.value !== ""; });
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var panel = event.detail.elt;
    if (!panel || panel.id !== "access-panel" || !panelBusy(panel)) return;
    event.preventDefault();
    panel.setAttribute("data-refresh-waiting", "");
    panel.dispatchEvent(new CustomEvent("portal:refresh-waiting", { bubbles: true }));
  });
  function catchUp() {
    window.setTimeout(function () {
      var panel = document.querySelector("#access-panel[data-refresh-waiting]");
      if (!panel || panelBusy(panel) || !window.htmx) return;
      panel.removeAttribute("data-refresh-waiting");
      window.htmx.trigger(panel, "refresh");
    }, 0);
  }
  document.addEventListener("toggle", catchUp, true);  // "End early" closed
  document.addEventListener("focusout", catchUp);

  // A preview is never stale: changing what would be asked for after *Preview* replaces the
  // preview (and the fingerprint of what it showed) with a note to preview again. The server
  // refuses a submit whose fields differ from the preview it answers (see preview.py).
  function previewStale(event) {
    var form = event.target.form || event.target.closest("form");
    var preview = document.getElementById("preview");
    if (!form || !preview || preview.getAttribute("data-form") !== form.id) return;
    if (event.target.closest("#resource-filters")) return;  // searching asks for nothing
    var note = document.createElement("section");
    note.className = "card card-quiet preview-stale";
    note.id = "preview-stale";
    note.setAttribute("role", "status");
    note.innerHTML = '<h2 class="h3">Preview cleared</h2><p class="muted">You changed the form ' +
      "after the preview. Press <strong>Preview</strong> again to see what it asks for now.</p>";
    preview.replaceWith(note);
  }
  document.addEventListener("input", previewStale);
  document.addEventListener("change", previewStale);

  // "Ask to extend by 4h": the extend button says what it asks for as the duration is typed.
  document.addEventListener("input", function (event) {
    if (!event.target.matches("[data-extend-by]")) return;
    var button = document.querySelector("[data-extend-button]");
    if (!button) return;
    var typed = event.target.value.trim();
    button.textContent = "Ask to extend by " + (typed || button.getAttribute("data-default"));
  });

  // After a refused submit, the error summary takes the focus (screen readers read it);
  // its links move the focus to the field they name.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-error-summary] a[href^='#']");
    if (!link) return;
    var target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) return;
    var field = target.matches("input, select, textarea") ? target
      : target.querySelector("input, select, textarea");
    if (!field) return;
    event.preventDefault();
    field.focus();
    target.scrollIntoView({ block: "center" });
  });

  function start() {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) summary.focus();
    tick();
    window.setInterval(tick, 1000);
    document.body.addEventListener("htmx:afterSwap", tick);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
