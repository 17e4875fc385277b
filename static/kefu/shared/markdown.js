// The one markdown renderer of Kefu: the widget (bundled) and the agent console (native
// module) both import it, so a bot reply reads the same for the visitor and the agent.
//
// It is deliberately small and safe. `parseMarkdown` turns text into plain data
// ({tag, attrs, children} objects and strings); `renderMarkdown` builds DOM nodes from it
// with createElement and text nodes only, never innerHTML, so any "<script>" in a message
// stays text. Only http(s) links become clickable.
//
// Blocks: paragraphs (a single newline is a line break), "- " / "* " / "• " lists,
// "1. " lists, "> " quotes and ``` fences. Inline: `code`, **bold**, *italic* and
// _italic_ (not inside words, so snake_case stays), [text](https://...) and bare
// http(s) URLs (trailing punctuation, ASCII or full-width, is not part of the link).

const FENCE = /^\s*```/;
const BULLET = /^\s*[-*•]\s+/;
const NUMBERED = /^\s*\d+[.)]\s+/;
const QUOTE = /^\s*>\s?/;

// One alternative per construct; the first match in the text wins, then the rest is
// scanned again. Bold is tried before italic so "**a**" is not read as two italics.
// No lookbehind: Safari before 16.4 cannot parse it, and the widget runs there.
const INLINE = new RegExp([
  String.raw`\x60([^\x60\n]+)\x60`, // 1 code
  String.raw`\*\*([^\s*](?:[^\n]*?[^\s])?)\*\*`, // 2 bold (may hold italics)
  String.raw`\*([^\s*](?:[^*\n]*?[^\s*])?)\*`, // 3 italic with stars
  // 4 what precedes, 5 italic with underscores: not inside a word, so snake_case stays
  String.raw`(^|[^\p{L}\p{N}_])_([^\s_](?:[^_\n]*?[^\s_])?)_(?![\p{L}\p{N}_])`,
  String.raw`\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)`, // 6 text, 7 url
  // 8 a bare URL: ASCII only (it ends where Chinese text starts), without trailing punctuation
  String.raw`(https?:\/\/[^\s<>()"'\u{7f}-\u{10ffff}]*[^\s<>()"'.,;:!?\u{7f}-\u{10ffff}])`,
].join("|"), "u"); // no "i": under "iu" a "k" matches the Kelvin sign, outside ASCII

const LINK_ATTRS = { target: "_blank", rel: "noopener noreferrer nofollow" };

/** The URL itself when it is an absolute http(s) URL without spaces, else null. */
export function safeUrl(url) {
  return /^https?:\/\/[^\s]+$/i.test(String(url || "")) ? String(url) : null;
}

function node(tag, children = [], attrs = null) {
  return { tag, attrs, children };
}

function link(url, text) {
  const href = safeUrl(url);
  return href ? node("a", [text], { href, ...LINK_ATTRS }) : text;
}

/** Inline constructs of one line, as an array of strings and nodes. */
export function parseInline(text) {
  const out = [];
  let rest = String(text);
  while (rest) {
    const m = INLINE.exec(rest);
    if (!m) break;
    // Text before the match, with the character an underscore italic may have consumed.
    const before = rest.slice(0, m.index) + (m[4] || "");
    if (before) out.push(before);
    if (m[1] !== undefined) out.push(node("code", [m[1]]));
    else if (m[2] !== undefined) out.push(node("strong", parseInline(m[2])));
    else if (m[3] !== undefined) out.push(node("em", parseInline(m[3])));
    else if (m[5] !== undefined) out.push(node("em", parseInline(m[5])));
    else if (m[6] !== undefined) out.push(link(m[7], m[6]));
    else out.push(link(m[8], m[8]));
    rest = rest.slice(m.index + m[0].length);
  }
  if (rest) out.push(rest);
  return out;
}

function lines(inlineLines) {
  // Lines of one block joined by <br>.
  const out = [];
  inlineLines.forEach((line, i) => {
    if (i) out.push(node("br"));
    out.push(...parseInline(line));
  });
  return out;
}

/** Markdown text to a list of block nodes (plain data, no DOM). */
export function parseMarkdown(source) {
  const src = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  const blocks = [];
  let i = 0;
  const takeWhile = (test, strip) => {
    const taken = [];
    while (i < src.length && test(src[i])) taken.push(strip(src[i++]));
    return taken;
  };
  while (i < src.length) {
    const line = src[i];
    if (!line.trim()) { i += 1; continue; }
    if (FENCE.test(line)) {
      i += 1;
      const body = takeWhile((l) => !FENCE.test(l), (l) => l);
      i += 1; // the closing fence (or the end)
      blocks.push(node("pre", [node("code", [body.join("\n")])]));
    } else if (BULLET.test(line)) {
      const items = takeWhile((l) => BULLET.test(l), (l) => l.replace(BULLET, ""));
      blocks.push(node("ul", items.map((item) => node("li", parseInline(item)))));
    } else if (NUMBERED.test(line)) {
      const items = takeWhile((l) => NUMBERED.test(l), (l) => l.replace(NUMBERED, ""));
      blocks.push(node("ol", items.map((item) => node("li", parseInline(item)))));
    } else if (QUOTE.test(line)) {
      blocks.push(node("blockquote", lines(takeWhile((l) => QUOTE.test(l), (l) => l.replace(QUOTE, "")))));
    } else {
      const para = takeWhile((l) => l.trim() && ![FENCE, BULLET, NUMBERED, QUOTE].some((re) => re.test(l)), (l) => l);
      blocks.push(node("p", lines(para)));
    }
  }
  return blocks;
}

function build(doc, item) {
  if (typeof item === "string") return doc.createTextNode(item);
  const el = doc.createElement(item.tag);
  for (const [name, value] of Object.entries(item.attrs || {})) el.setAttribute(name, value);
  for (const child of item.children) el.appendChild(build(doc, child));
  return el;
}

/** Markdown text to a DocumentFragment (text nodes and createElement only). */
export function renderMarkdown(source, doc = document) {
  const fragment = doc.createDocumentFragment();
  for (const block of parseMarkdown(source)) fragment.appendChild(build(doc, block));
  return fragment;
}

const escapeText = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\u00a0/g, "&nbsp;");
const escapeAttr = (s) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/\u00a0/g, "&nbsp;");
const VOID = new Set(["br"]);

/** Parsed nodes to HTML exactly as a browser's innerHTML would serialize the rendered DOM (for tests). */
export function toHtml(items) {
  return items.map((item) => {
    if (typeof item === "string") return escapeText(item);
    const attrs = Object.entries(item.attrs || {}).map(([k, v]) => ` ${k}="${escapeAttr(String(v))}"`).join("");
    if (VOID.has(item.tag)) return `<${item.tag}${attrs}>`;
    return `<${item.tag}${attrs}>${toHtml(item.children)}</${item.tag}>`;
  }).join("");
}
