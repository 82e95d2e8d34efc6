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

  function start() {
    tick();
    window.setInterval(tick, 1000);
    document.body.addEventListener("htmx:afterSwap", tick);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
