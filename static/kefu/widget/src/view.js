// What the visitor sees: the launcher, the panel, message rows, cards (pre-chat, leave a
// message, rating) and receipts. Untrusted text only goes through text nodes.

import { renderMarkdown, safeUrl } from "../../shared/markdown.js";
import { formatMoment, systemText } from "../../shared/system-text.js";
import SYSTEM_TEXTS from "../../shared/system-texts.json";
import { el, icon, EMOJI } from "./dom.js";
import { CSS } from "./styles.js";

const OTHER_SENDERS = { agent: 1, bot: 1 };
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Markdown in its own container, so the widget and the console render the same tree. */
export function markdownBlock(text) {
  return el("div", { class: "md" }, renderMarkdown(text));
}

export function installView(widget) {
  const { root, state, ui } = widget;
  const t = (key, vars) => widget.t(key, vars);
  const rowsByKey = {}; // "conversation:seq" -> row element

  function buildShell() {
    // Redrawn when settings or the language change: keep what the visitor was typing.
    const draft = ui.input ? ui.input.value : "";
    const focused = ui.input && root.activeElement === ui.input;
    root.textContent = "";
    root.appendChild(el("style", { text: CSS }));
    const settings = state.settings;
    ui.badge = el("span", { class: "badge", hidden: true });
    ui.launcher = el("button", { class: "lau", "aria-label": t("open"), onclick: () => widget.setOpen(!state.open) },
      [icon("chat"), icon("down", 28), ui.badge]);
    ui.status = el("div", { class: "hs" });
    ui.avatar = el("div", { class: "av" }, [avatarImage() || icon("user", 22), el("span", { class: "dot" })]);
    ui.head = el("div", { class: "hd" }, [ui.avatar,
      el("div", { class: "ht" }, [el("div", { class: "hn", text: settings.name || t("title") }), ui.status]),
      el("button", { class: "x", "aria-label": t("close"), onclick: () => widget.setOpen(false) }, icon("down", 22))]);
    ui.bar = el("div", { class: "bar", hidden: true });
    ui.seqList = el("div");
    ui.tail = el("div");
    ui.typing = el("div", { class: "row", hidden: true },
      [el("div", { class: "col" }, [el("div", { class: "who" }), el("div", { class: "b tp" }, [el("i"), el("i"), el("i")])])]);
    ui.cards = el("div");
    ui.quickReplies = el("div", { class: "qr", hidden: true });
    const welcome = el("div", { class: "row" }, [senderAvatar(), el("div", { class: "col" },
      el("div", { class: "b" }, markdownBlock(settings.welcome || t("welcome"))))]);
    ui.log = el("div", { class: "log", role: "log", "aria-live": "polite" },
      [welcome, ui.seqList, ui.tail, ui.quickReplies, ui.typing, ui.cards]);
    ui.human = el("button", { class: "chip", text: t("human"), hidden: true, onclick: widget.handoff });
    ui.actions = el("div", { class: "acts", hidden: true }, [ui.human]);
    ui.input = el("textarea", { rows: 1, placeholder: t("placeholder"), "aria-label": t("placeholder"),
      maxlength: 5000, oninput: widget.onInput, onkeydown: widget.onKey, onpaste: widget.onPaste });
    ui.file = el("input", { type: "file", hidden: true, multiple: true,
      onchange: () => { Array.from(ui.file.files).forEach(widget.upload); ui.file.value = ""; } });
    ui.emoji = el("div", { class: "emo", hidden: true }, EMOJI.map((e) =>
      el("button", { text: e, "aria-label": e, onclick: () => widget.insertText(e) })));
    const iconButton = (name, label, onclick, cls = "ib") =>
      el("button", { class: cls, title: t(label), "aria-label": t(label), onclick }, icon(name));
    ui.foot = el("div", { class: "ft" }, [ui.emoji, el("div", { class: "cmp" }, [
      iconButton("smile", "emoji", () => { ui.emoji.hidden = !ui.emoji.hidden; }),
      iconButton("clip", "attach", () => ui.file.click()),
      ui.input, ui.file,
      iconButton("send", "send", widget.submit, "ib sb")]),
    el("div", { class: "pw", text: t("poweredBy") })]);
    ui.drop = el("div", { class: "dz", text: t("drop"), hidden: true });
    ui.panel = el("div", { class: "panel", role: "dialog", "aria-label": settings.name || t("title") },
      [ui.head, ui.bar, ui.log, ui.actions, ui.foot, ui.drop]);
    ui.panel.addEventListener("dragover", (e) => { e.preventDefault(); ui.drop.hidden = false; });
    ui.drop.addEventListener("dragleave", () => { ui.drop.hidden = true; });
    ui.panel.addEventListener("drop", (e) => {
      e.preventDefault();
      ui.drop.hidden = true;
      Array.from((e.dataTransfer && e.dataTransfer.files) || []).forEach(widget.upload);
    });
    ui.k = el("div", { class: "k" + (settings.position === "left" ? " left" : "") + (state.open ? " isopen" : "") },
      [ui.panel, ui.launcher]);
    applyTheme();
    root.appendChild(ui.k);
    ui.input.value = draft;
    if (focused) ui.input.focus();
    state.list.forEach((m) => placeRow(m, renderMessage(m)));
    Object.values(state.pending).forEach((p) => ui.tail.appendChild(p.row));
    Object.values(state.streams).forEach((s) => ui.tail.appendChild(s.row));
    renderChrome();
  }

  function applyTheme() {
    const color = /^#[0-9a-f]{3,8}$/i.test(state.settings.color || "") ? state.settings.color : "#1677ff";
    ui.k.style.setProperty("--c", color);
    const hex = color.length === 4 ? color.replace(/#(.)(.)(.)/, "#$1$1$2$2$3$3") : color.slice(0, 7);
    const n = parseInt(hex.slice(1), 16);
    const luminance = (0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255)) / 255;
    ui.k.style.setProperty("--ct", luminance > 0.7 ? "#1f2329" : "#fff");
  }

  function avatarImage() {
    const src = widget.assetUrl(state.settings.avatar);
    return src ? el("img", { src, alt: "" }) : null;
  }

  function senderAvatar(message) {
    const name = (message && message.sender_name) || state.settings.name || "";
    return el("div", { class: "mav" }, avatarImage() || (name ? name.trim().charAt(0).toUpperCase() : icon("chat", 16)));
  }

  // Everything that depends on state but not on one message: header, bars, cards, badge.
  function renderChrome() {
    if (!ui.k) return;
    ui.k.classList.toggle("isopen", state.open);
    ui.k.classList.toggle("off", !state.online);
    ui.status.textContent = state.online ? t("online") : t("offline");
    ui.badge.hidden = state.open || !state.unread;
    ui.badge.textContent = state.unread > 99 ? "99+" : String(state.unread);
    let bar = "";
    if (state.started && !state.ready && state.disconnectedAt && Date.now() - state.disconnectedAt > 1500) {
      bar = t("reconnecting");
    } else if (state.online && state.conv && state.conv.status === "queued" && state.queue) {
      bar = state.queue === 1 ? t("queueNext") : t("queue", { n: state.queue - 1 });
    }
    ui.bar.hidden = !bar;
    ui.bar.textContent = bar;
    const status = state.conv ? state.conv.status : null;
    // Offered while the bot answers, online or not: with nobody online the bot says so.
    ui.human.hidden = status !== "bot";
    ui.actions.hidden = ui.human.hidden;
    renderCards();
  }

  function renderCards() {
    const closed = state.conv && state.conv.status === "closed";
    const wantsPrechat = state.settings.prechat && !state.conversationId && !state.contactDone && state.online;
    // Rebuild only when the set of cards changes, so a half-filled form survives
    // unrelated redraws (presence, queue, reconnects).
    const key = [closed, state.conv && state.conv.rating, state.rating, state.online, state.contactDone,
      wantsPrechat, state.locale, state.contactOpen].join();
    ui.input.disabled = !!(wantsPrechat && !state.contactDone);
    if (ui.cards.childNodes.length && ui.cards._key === key) return;
    ui.cards._key = key;
    ui.cards.textContent = "";
    const line = (text) => ui.cards.appendChild(el("div", { class: "sys", text }));
    if (closed && state.conv.rating == null && state.rating !== "done") ui.cards.appendChild(ratingCard());
    else if (state.rating === "done") line(t("rateThanks"));
    if (closed) line(t("closed"));
    if (!state.online && !state.contactDone) {
      // Away: one line and a button, not a form filling the panel before anyone typed.
      ui.cards.appendChild(state.contactOpen ? contactCard("leaveTitle", "leaveText", "leaveSend", true) : awayCard());
    }
    else if (wantsPrechat) ui.cards.appendChild(contactCard("prechatTitle", null, "start", false));
    else if (state.contactDone === "thanks") line(t("leaveThanks"));
  }

  function contactCard(title, text, button, withPhone) {
    const known = state.user || {};
    const name = el("input", { placeholder: t("name"), autocomplete: "name", maxlength: 120, value: known.name || null });
    const email = el("input", { placeholder: t("email"), type: "email", autocomplete: "email", maxlength: 254,
      value: known.email || null });
    const phone = withPhone ? el("input", { placeholder: t("phone"), type: "tel", autocomplete: "tel", maxlength: 40 }) : null;
    const error = el("div", { class: "ferr", hidden: true });
    const form = el("form", { novalidate: true, onsubmit: (e) => {
      e.preventDefault();
      const values = { name: name.value.trim(), email: email.value.trim(), phone: phone ? phone.value.trim() : "" };
      const problem = !values.name ? "required" : values.email && !EMAIL.test(values.email) ? "invalidEmail" : "";
      if (problem) { error.textContent = t(problem); error.hidden = false; return; }
      widget.sendContact(values);
      state.contactDone = withPhone ? "thanks" : 1;
      widget.store.set("contact", 1);
      renderChrome();
      ui.input.focus();
    } }, [name, email, phone, error, el("button", { class: "pb", type: "submit", text: t(button) })]);
    return el("div", { class: "card" }, [el("h4", { text: t(title) }), text && el("p", { text: t(text) }), form]);
  }

  function awayCard() {
    return el("div", { class: "card away" }, [el("span", { text: t("awayText") }),
      el("button", { class: "chip", text: t("leaveTitle"), onclick: () => {
        state.contactOpen = true;
        renderCards();
        widget.scrollDown();
      } })]);
  }

  function ratingCard() {
    let score = 0;
    const stars = [];
    const comment = el("textarea", { rows: 2, placeholder: t("rateComment"), maxlength: 1000 });
    const send = el("button", { class: "pb", text: t("rateSend"), disabled: true, onclick: () => {
      widget.send({ type: "rate", rating: score, comment: comment.value.trim() });
      state.rating = "done";
      renderCards();
    } });
    for (let i = 1; i <= 5; i++) {
      stars.push(el("button", { "aria-label": String(i), onclick: () => {
        score = i;
        stars.forEach((star, j) => star.classList.toggle("on", j < i));
        send.disabled = false;
      } }, icon("star", 30)));
    }
    return el("div", { class: "card" }, [el("h4", { text: t("rateTitle") }), el("div", { class: "stars" }, stars), comment, send]);
  }

  // --- message rows ------------------------------------------------------------------
  const rowKey = (m) => m.conversation_id + ":" + m.seq;

  /** Insert a row in (conversation, seq) order: replays and live frames interleave. */
  function placeRow(message, row) {
    row._c = widget.conversationIndex(message.conversation_id);
    row._s = message.seq;
    let before = null;
    const rows = ui.seqList.children;
    for (let i = rows.length - 1; i >= 0; i--) {
      const other = rows[i];
      if (other._c < row._c || (other._c === row._c && other._s < row._s)) break;
      before = other;
    }
    ui.seqList.insertBefore(row, before);
    rowsByKey[rowKey(message)] = row;
  }

  const rowFor = (message) => rowsByKey[rowKey(message)] || null;

  /** A system text (event line, the bot's fixed sentences) in the visitor's language, else the stored body. */
  function displayBody(m) {
    const catalogue = SYSTEM_TEXTS[state.locale] || SYSTEM_TEXTS.en;
    return systemText(m.meta, (code) => catalogue[code] ?? null, (iso) => formatMoment(iso, state.locale)) ?? m.body;
  }

  function renderMessage(m) {
    if (m.kind === "event" || m.sender_type === "system") return el("div", { class: "sys", text: displayBody(m) });
    const mine = m.sender_type === "visitor";
    const bubble = el("div", { class: "b" });
    widget.fillAttachment(bubble, m);
    const body = displayBody(m);
    if (body) {
      // The visitor's own words stay as typed; answers are markdown.
      bubble.appendChild(mine ? el("div", { text: body, style: "white-space:pre-wrap" }) : markdownBlock(body));
    }
    const sources = ((m.meta && m.meta.sources) || []).slice(0, 5);
    if (sources.length) bubble.appendChild(el("div", { class: "src" }, [t("sources") + ":"].concat(sources.map(sourceChip))));
    const who = mine ? null : el("div", { class: "who", text: m.sender_name || t(m.sender_type === "bot" ? "bot" : "agent") });
    const status = mine ? el("div", { class: "st" }) : null;
    const row = el("div", { class: "row" + (mine ? " me" : "") }, [mine ? null : senderAvatar(m),
      el("div", { class: "col" }, [who, bubble, status])]);
    row._st = status;
    return row;
  }

  function sourceChip(source) {
    const title = String((source && (source.title || source.name || source.url)) || "").slice(0, 80);
    const url = source && safeUrl(String(source.url || ""));
    return url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow", text: title, title })
      : el("span", { class: "s", text: title });
  }

  function renderQuickReplies() {
    const last = widget.latest((m) => m.kind !== "event");
    const replies = last && OTHER_SENDERS[last.sender_type] && last.meta && last.meta.quick_replies;
    ui.quickReplies.textContent = "";
    ui.quickReplies.hidden = !(replies && replies.length);
    if (ui.quickReplies.hidden) return;
    replies.slice(0, 8).forEach((reply) => {
      const label = String(typeof reply === "string" ? reply : (reply && (reply.title || reply.text)) || "").slice(0, 60);
      const payload = typeof reply === "string" ? reply : String((reply && (reply.payload || reply.text || reply.title)) || "");
      if (label) ui.quickReplies.appendChild(el("button", { class: "chip", text: label, onclick: () => widget.sendText(payload) }));
    });
  }

  // Only the visitor's latest message carries "Sent" / "Read", like most messengers.
  function updateReceipts() {
    if (state.receiptRow && state.receiptRow._st) state.receiptRow._st.textContent = "";
    const last = widget.latest((m) => m.sender_type === "visitor");
    const row = last && rowFor(last);
    state.receiptRow = row;
    if (row && row._st && !Object.keys(state.pending).length) {
      row._st.textContent = last.seq <= state.agentRead ? t("read") : t("sent");
    }
  }

  function scrollDown() {
    if (ui.log) requestAnimationFrame(() => { ui.log.scrollTop = ui.log.scrollHeight; });
  }

  function showPeerTyping(name) {
    ui.typing.hidden = false;
    ui.typing.querySelector(".who").textContent = t("typing", { name: name || t("someone") });
    clearTimeout(state.peerTypingTimer);
    state.peerTypingTimer = setTimeout(hidePeerTyping, 6000);
    scrollDown();
  }

  function hidePeerTyping() {
    clearTimeout(state.peerTypingTimer);
    if (ui.typing) ui.typing.hidden = true;
  }

  /** A bot answer being streamed: a bubble that grows until bot.done replaces it. */
  function streamRow() {
    const bubble = el("div", { class: "b cur" });
    const row = el("div", { class: "row" }, [senderAvatar(), el("div", { class: "col" },
      [el("div", { class: "who", text: state.settings.name || t("bot") }), bubble])]);
    ui.tail.appendChild(row);
    return { row, bubble, text: "" };
  }

  Object.assign(widget, { buildShell, renderChrome, renderCards, placeRow, rowFor, renderMessage, renderQuickReplies,
    updateReceipts, scrollDown, showPeerTyping, hidePeerTyping, streamRow, markdownBlock });
}
