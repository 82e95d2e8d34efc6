/* Accessibility fixes for Django admin's own widgets, until Django ships them.
   SelectFilter2.js (the two-box "available / chosen" picker) names its magnifier icon with
   aria-label on a bare <span>, which ARIA does not allow (axe: aria-prohibited-attr): a
   span has no role that can be named. Give those icons role="img", which can. The widget
   builds its markup on window load, so watch for it rather than run once.
   The changelist's search box is labelled by a magnifier image; with search_help_text it
   also has a description, and axe then finds only the description (label-title-only):
   name it "Search", as its image's alt text says. */
(function () {
  "use strict";
  var SELECTOR = "span.help-tooltip[aria-label]:not([role])";
  function fix(root) {
    if (root.matches && root.matches(SELECTOR)) root.setAttribute("role", "img");
    if (root.querySelectorAll) {
      root.querySelectorAll(SELECTOR).forEach(function (icon) { icon.setAttribute("role", "img"); });
    }
  }
  new MutationObserver(function (changes) {
    changes.forEach(function (change) { change.addedNodes.forEach(fix); });
  }).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", function () {
    fix(document);
    var search = document.getElementById("searchbar");
    if (search && !search.hasAttribute("aria-label")) search.setAttribute("aria-label", "Search");
  });
})();
