"""Keyboard focus must be visible: tab through a page and measure each focused control's
focus indicator against what is behind it (WCAG 2.4.7, with 2.4.13's 3:1 and 2px).

For every element the Tab key reaches, the browser reports the computed outline (style,
width, colour) and box-shadow, and the effective background behind the indicator: the
element painted where the outline runs (found with elementsFromPoint, so a skip link laid
over the dark top bar is measured against the bar), its background and its ancestors'
composited over the white canvas. The contrast is WCAG's relative-luminance ratio.
"""

from __future__ import annotations

import re

MIN_WIDTH = 2.0
MIN_CONTRAST = 3.0
MAX_TABS = 80

PROBE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  if (el.dataset.focusProbed) return {wrapped: true};  // tabbing came round again
  el.dataset.focusProbed = "1";
  const style = getComputedStyle(el);
  const rect = el.getBoundingClientRect();
  // What is painted where the outline is: the topmost element at the middle of the ring's
  // left side (right side at the window's edge), other than the focused element's content.
  const offset = parseFloat(style.outlineOffset) || 0;
  const ring = offset + (parseFloat(style.outlineWidth) || 0) / 2;
  let x = rect.left - ring;
  if (x < 1) x = rect.right + ring;
  x = Math.min(Math.max(x, 0), window.innerWidth - 1);
  const y = Math.min(Math.max(rect.top + rect.height / 2, 0), window.innerHeight - 1);
  const inside = offset < 0;
  let under = document.elementsFromPoint(x, y)
    .find((node) => inside ? node === el || !el.contains(node) : !el.contains(node));
  const layers = [];
  for (let node = under || el.parentElement; node; node = node.parentElement) {
    layers.push(getComputedStyle(node).backgroundColor);
  }
  // An ancestor that clips overflow (a sideways-scrolling nav, say) cuts off a ring drawn
  // outside the element: name it if the ring's outer edge does not fit inside it.
  const reach = offset + (parseFloat(style.outlineWidth) || 0);
  let clippedBy = null;
  if (style.outlineStyle !== "none" && reach > 0) {
    for (let node = el.parentElement; node && !clippedBy; node = node.parentElement) {
      const box = getComputedStyle(node);
      if (box.overflowX === "visible" && box.overflowY === "visible") continue;
      const outer = node.getBoundingClientRect();
      const left = outer.left + node.clientLeft, top = outer.top + node.clientTop;
      if (rect.left - reach < left - 0.5 || rect.top - reach < top - 0.5
          || rect.right + reach > left + node.clientWidth + 0.5
          || rect.bottom + reach > top + node.clientHeight + 0.5) {
        clippedBy = node.tagName.toLowerCase()
          + (node.classList.length ? "." + [...node.classList].join(".") : "");
      }
    }
  }
  const label = (el.getAttribute("aria-label") || el.textContent || el.value || el.name || "")
    .trim().replace(/\\s+/g, " ").slice(0, 40);
  return {
    element: `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}`
      + `${el.classList.length ? "." + [...el.classList].join(".") : ""} "${label}"`,
    visible: rect.width > 0 && rect.height > 0,
    outlineStyle: style.outlineStyle, outlineWidth: style.outlineWidth,
    outlineColor: style.outlineColor, boxShadow: style.boxShadow, clippedBy,
    layers: layers.reverse(),  // from <html> down to the element's parent
  };
}"""

_COLOUR = re.compile(r"rgba?\(([\d.]+)[, ]+([\d.]+)[, ]+([\d.]+)(?:\s*[,/]\s*([\d.]+))?\)")


def parse_colour(text: str) -> tuple[float, float, float, float]:
    """`rgb(r, g, b)` or `rgba(r, g, b, a)` as computed styles give them."""
    match = _COLOUR.search(text)
    if not match:
        raise ValueError(f"not a colour: {text!r}")
    r, g, b, a = match.groups()
    return float(r), float(g), float(b), 1.0 if a is None else float(a)


def over(top: tuple, bottom: tuple) -> tuple[float, float, float, float]:
    """`top` painted over the opaque `bottom` (source-over compositing)."""
    alpha = top[3]
    mixed = (alpha * t + (1 - alpha) * b for t, b in zip(top[:3], bottom[:3], strict=True))
    return (*mixed, 1.0)


def luminance(colour: tuple) -> float:
    """WCAG 2.x relative luminance of an sRGB colour (0-255 channels)."""

    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: tuple, second: tuple) -> float:
    """WCAG contrast ratio, 1 to 21."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def background(layers: list[str]) -> tuple[float, float, float, float]:
    """The colour behind an element: its ancestors' backgrounds over the white canvas."""
    colour = (255.0, 255.0, 255.0, 1.0)
    for layer in layers:
        colour = over(parse_colour(layer), colour)
    return colour


def _shadow(box_shadow: str) -> tuple[tuple, float] | None:
    """The widest solid ring among the box-shadows: (colour, spread px), or None."""
    if box_shadow in ("", "none"):
        return None
    best = None
    for part in re.split(r",(?![^(]*\))", box_shadow):
        colour = parse_colour(part)
        lengths = [float(n) for n in re.findall(r"(-?[\d.]+)px", _COLOUR.sub("", part))]
        if "inset" in part or len(lengths) < 4 or lengths[0] or lengths[1] or lengths[2]:
            continue  # offset or blurred shadows are decoration, not a ring
        if best is None or lengths[3] > best[1]:
            best = (colour, lengths[3])
    return best


def indicator_problem(probe: dict) -> str | None:
    """Why this focused element's indicator is not clearly visible, or None."""
    behind = background(probe["layers"])
    found = []
    if probe["outlineStyle"] not in ("none", "hidden"):
        width = float(probe["outlineWidth"].removesuffix("px") or 0)
        colour = over(parse_colour(probe["outlineColor"]), behind)
        found.append(("outline", width, contrast(colour, behind)))
    ring = _shadow(probe["boxShadow"])
    if ring:
        colour, spread = ring
        found.append(("box-shadow", spread, contrast(over(colour, behind), behind)))
    if probe.get("clippedBy"):
        return f"{probe['element']}: outline cut off by {probe['clippedBy']} (overflow)"
    if any(width >= MIN_WIDTH and ratio >= MIN_CONTRAST for _, width, ratio in found):
        return None
    if not found:
        return f"{probe['element']}: no focus indicator"
    shown = ", ".join(f"{kind} {width:g}px at {ratio:.2f}:1" for kind, width, ratio in found)
    return f"{probe['element']}: {shown} (needs {MIN_WIDTH:g}px at {MIN_CONTRAST:g}:1)"


def focus_problems(page, where: str = "") -> tuple[int, list[str]]:
    """Tab through the open page from its top; return (controls reached, problems)."""
    page.evaluate(
        "document.querySelectorAll('[data-focus-probed]')"
        ".forEach((el) => delete el.dataset.focusProbed)"
    )
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("body").focus()  # start from the document, as a fresh page load does
    problems, reached = [], 0
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        probe = page.evaluate(PROBE)
        if probe is not None and probe.get("wrapped"):
            break
        if probe is None or not probe["visible"]:
            continue
        reached += 1
        problem = indicator_problem(probe)
        if problem:
            problems.append(f"[{where} {page.url}] {problem}")
    return reached, problems
