// Accessibility checks run inside a page by test_pages.py (page.evaluate). Returns a
// list of problems as strings; an empty list means the page passed.
() => {
  const problems = [];
  const visible = (el) => {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden" && style.display !== "none";
  };
  const describe = (el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.name ? "[name=" + el.name + "]" : ""}`;

  // Every control has an accessible name.
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    const named = el.labels?.length || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!named) problems.push(`no label: ${describe(el)}`);
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!visible(el)) continue;
    const name = (el.textContent || "").trim() || el.getAttribute("aria-label") || el.querySelector("img[alt]:not([alt=''])");
    if (!name) problems.push(`no accessible name: ${describe(el)}`);
  }
  for (const img of document.querySelectorAll("img:not([alt])")) problems.push(`img without alt: ${img.src}`);
  if (!document.documentElement.lang) problems.push("html has no lang");
  if (document.querySelectorAll("h1").length !== 1) problems.push(`${document.querySelectorAll("h1").length} h1 elements`);
  if (!document.title.trim()) problems.push("no title");

  // Text contrast, WCAG AA: 4.5:1 (3:1 for large text).
  const parse = (value) => {
    const probe = document.createElement("canvas").getContext("2d");
    probe.fillStyle = "#000";
    probe.fillStyle = value;
    const hex = probe.fillStyle;
    if (hex.startsWith("#")) {
      return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).concat([1]);
    }
    const parts = hex.match(/[\d.]+/g).map(Number);
    // color(srgb r g b / a) has channels from 0 to 1; rgba() from 0 to 255.
    const scale = hex.startsWith("color(srgb") ? 255 : 1;
    return [parts[0] * scale, parts[1] * scale, parts[2] * scale, parts[3] ?? 1];
  };
  const luminance = ([r, g, b]) => {
    const channel = (c) => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const background = (el) => {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const color = parse(getComputedStyle(node).backgroundColor);
      if (color[3] > 0) layers.push(color);
      if (color[3] >= 1) break;
    }
    let result = [255, 255, 255];
    if (getComputedStyle(document.documentElement).colorScheme.includes("dark") && matchMedia("(prefers-color-scheme: dark)").matches) result = [0, 0, 0];
    for (const [r, g, b, a] of layers.reverse()) {
      result = [r * a + result[0] * (1 - a), g * a + result[1] * (1 - a), b * a + result[2] * (1 - a)];
    }
    return result;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const checked = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!el || checked.has(el) || !walker.currentNode.textContent.trim() || !visible(el)) continue;
    if (el.closest(".visually-hidden, .skip")) continue;
    checked.add(el);
    const style = getComputedStyle(el);
    const [r, g, b, a] = parse(style.color);
    const bg = background(el);
    const fg = [r * a + bg[0] * (1 - a), g * a + bg[1] * (1 - a), b * a + bg[2] * (1 - a)];
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(`contrast ${ratio.toFixed(2)}:1 for "${walker.currentNode.textContent.trim().slice(0, 40)}" (${describe(el)})`);
    }
  }
  // Nothing wider than the screen (usable at 360 px).
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    problems.push(`page scrolls sideways: ${document.documentElement.scrollWidth}px > ${window.innerWidth}px`);
  }
  return problems;
}
