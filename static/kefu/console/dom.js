import { formatMoment, systemText } from "../shared/system-text.js";

// DOM helpers. Everything from the network is put in with textContent or attributes
// we check: never innerHTML, so a visitor's "<img onerror>" stays text.

let messages = {};
export function setMessages(dict) { messages = dict || {}; }
/** The dictionary's text for `key`, or null (t() would fall back to the key itself). */
export function lookup(key) {
  return Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : null;
}

export function t(key, vars) {
  let s = messages[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) { while (node.firstChild) node.firstChild.remove(); return node; }

export function safeUrl(url) {
  // Only http(s) links and our own relative paths become clickable.
  try {
    const u = new URL(url, location.origin);
    if (u.protocol === "http:" || u.protocol === "https:") return u.href;
  } catch (e) { /* not a URL */ }
  return null;
}

// Message bodies: the renderer the widget uses too, so both sides read the same.
export { renderMarkdown } from "../shared/markdown.js";

/** A system text (event line, bot sentence, note) in the agent's language, else the stored body. */
export function displayBody(m) {
  const lang = document.documentElement.lang || "en";
  return systemText(m.meta, (code) => lookup(`sys.${code}`), (iso) => formatMoment(iso, lang)) ?? m.body;
}

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function fmtSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function initials(name) {
  const s = String(name || "?").replace(/^#/, "").trim();
  return (s[0] || "?").toUpperCase();
}

export function avatar(name, cls = "") {
  // A stable hue per name so the same visitor keeps one colour.
  let h = 0;
  for (const ch of String(name || "")) h = (h * 31 + ch.codePointAt(0)) % 360;
  return el("span", { class: `avatar ${cls}`, style: `background:hsl(${h} 55% 52%)`, text: initials(name) });
}

export function toast(text, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const node = el("div", { class: `toast ${kind}`, role: "status", text });
  box.append(node);
  setTimeout(() => node.remove(), 4000);
}

// Small line icons as SVG (no emoji: many Linux desktops have no colour emoji font).
const ICONS = {
  bell: "M6 16V11a6 6 0 0 1 12 0v5l1.5 2h-15zM10 20a2 2 0 0 0 4 0",
  clip: "M15.5 6.5l-7 7a2 2 0 0 0 2.8 2.8l7.4-7.4a4 4 0 0 0-5.6-5.6L5.6 10.8a6 6 0 0 0 8.5 8.5l5.4-5.4",
  spark: "M12 3l1.8 5.2L19 10l-5.2 1.8L12 17l-1.8-5.2L5 10l5.2-1.8zM19 16l.8 2.2L22 19l-2.2.8L19 22l-.8-2.2L16 19l2.2-.8z",
  file: "M6 3h8l4 4v14H6zM14 3v4h4",
  chat: "M4 5h16v11h-6l-4 4v-4H4z",
};
export function icon(name, cls = "icon") {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", cls);
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name] || "");
  svg.append(path);
  return svg;
}
