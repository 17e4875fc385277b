// The widget app: its state, the message list, unread counts and read receipts shared
// across tabs, composing with the offline outbox, and the public kefu(...) commands.
// The view (view.js), the transport (transport.js) and files (files.js) are installed on
// the same `widget` object and call each other through it.

import { installFiles } from "./files.js";
import { pickLocale, translator } from "./i18n.js";
import { Outbox } from "./outbox.js";
import { SequenceTracker } from "./sequence.js";
import { createStore, newClientId } from "./storage.js";
import { installTransport } from "./transport.js";
import { installView } from "./view.js";

const OTHER_SENDERS = { agent: 1, bot: 1 };

/** Start the widget in the closed shadow `root`; `boot` comes from the loader (widget.js). */
export function startWidget(root, boot) {
  const prefix = "kefu:" + boot.key + ":";
  const store = createStore(prefix);
  const state = {
    visitorId: store.get("vid", null), token: null, tokenExpires: 0, settings: {}, online: true,
    ws: null, ready: false, retries: 0, stopped: false, started: false,
    conversationId: null, conversationIds: [], seq: new SequenceTracker(),
    rows: {}, list: [], pending: {}, streams: {}, agentRead: 0,
    open: !!store.get("open", false), unread: 0, read: store.get("read", { c: 0, s: 0 }),
    user: null, attributes: null, locale: null, conv: null, queue: 0, contactDone: !!store.get("contact", 0),
    rating: null, typingSentAt: 0, resumeAskedAt: 0,
  };
  const listeners = { message: [], open: [], close: [], unread: [] };
  const ui = {};
  const widget = { root, boot, base: boot.base, state, ui, store, outbox: new Outbox(store), newClientId,
    t: translator("en") };
  const emit = (name, data) => listeners[name].forEach((fn) => {
    try { fn(data); } catch (e) { /* a bug in the host page's listener is not ours to break on */ }
  });

  installFiles(widget);
  installView(widget);
  installTransport(widget);

  // --- conversations and messages ---------------------------------------------------------
  const rowKey = (m) => m.conversation_id + ":" + m.seq;

  /** A stable order of conversations (older first), so rows of several sort correctly. */
  function conversationIndex(id) {
    let i = state.conversationIds.indexOf(id);
    if (i < 0) { state.conversationIds.push(id); i = state.conversationIds.length - 1; }
    return i;
  }

  function setConversation(id) {
    if (!id || id === state.conversationId) return;
    state.conversationId = id;
    conversationIndex(id);
    state.agentRead = 0;
    state.seq.reset(id);
    state.list.forEach((m) => { if (m.conversation_id === id) state.seq.see(m.seq); });
  }

  function resetConversation() {
    state.conversationId = null;
    state.conversationIds = [];
    state.seq.reset(null);
    state.rows = {};
    state.list = [];
    state.conv = null;
    if (ui.seqList) ui.seqList.textContent = "";
  }

  function addMessage(m, live, inBatch) {
    if (!m || m.is_internal || m.seq == null) return;
    if (!state.conversationId) setConversation(m.conversation_id);
    if (m.conversation_id !== state.conversationId
      && conversationIndex(m.conversation_id) > conversationIndex(state.conversationId)) {
      setConversation(m.conversation_id);
    }
    const had = state.rows[rowKey(m)];
    if (had && !had._local) return;
    if (had) {
      // Our stand-in built from the ack; the server's copy is complete (names, links).
      state.list.splice(state.list.indexOf(had), 1);
      const old = widget.rowFor(had);
      if (old) old.remove();
    }
    state.rows[rowKey(m)] = m;
    state.list.push(m);
    const pending = m.client_msg_id && state.pending[m.client_msg_id];
    if (pending) {
      pending.row.remove();
      delete state.pending[m.client_msg_id];
      widget.outbox.drop(m.client_msg_id);
    }
    widget.placeRow(m, widget.renderMessage(m));
    if (m.conversation_id === state.conversationId) {
      // A replay page names its own holes (through_seq) after its messages: no resume from inside it.
      if (inBatch) state.seq.see(m.seq);
      else accountFor(m.seq);
    }
    if (OTHER_SENDERS[m.sender_type]) widget.hidePeerTyping();
    if (!had) emit("message", JSON.parse(JSON.stringify(m)));
    if (!inBatch) afterMessages(live);
  }

  /** A number of the current conversation arrived (a message, or a note we skip). */
  function accountFor(seq) {
    state.seq.see(seq);
    // Beyond a hole nobody announced: something was missed, ask for it (at most once a second).
    if (state.seq.isAhead(seq) && Date.now() - state.resumeAskedAt > 1000) {
      state.resumeAskedAt = Date.now();
      widget.send({ type: "resume", last_seq: state.seq.last });
    }
  }

  // Work that depends on the whole list: once per frame, not once per replayed message.
  function afterMessages(live) {
    widget.renderQuickReplies();
    widget.updateReceipts();
    recountUnread(live);
    widget.scrollDown();
  }

  /** The latest message of the current conversation that satisfies `test`. */
  function latest(test) {
    let best = null;
    for (let i = state.list.length - 1; i >= 0; i--) {
      const m = state.list[i];
      if (m.conversation_id === state.conversationId && test(m) && (!best || m.seq > best.seq)) best = m;
    }
    return best;
  }

  // --- unread, read receipts, tabs --------------------------------------------------------
  const channel = window.BroadcastChannel ? new BroadcastChannel(prefix + "sync") : null;
  function tellOtherTabs(message) {
    if (channel) channel.postMessage(message);
    else store.set("sync", Object.assign({ n: Math.random() }, message));
  }
  function onOtherTab(message) {
    if (!message) return;
    if ("open" in message && message.open !== state.open) setOpen(message.open, true);
    if (message.read && (message.read.c !== state.read.c || message.read.s > state.read.s)) {
      state.read = message.read;
      recountUnread(false);
    }
  }
  if (channel) channel.onmessage = (e) => onOtherTab(e.data);
  else {
    window.addEventListener("storage", (e) => {
      if (e.key === prefix + "sync" && e.newValue) onOtherTab(JSON.parse(e.newValue));
    });
  }

  function recountUnread(live) {
    const readUpTo = state.read.c === state.conversationId ? state.read.s : 0;
    const count = state.list.filter((m) => m.conversation_id === state.conversationId
      && OTHER_SENDERS[m.sender_type] && m.seq > readUpTo).length;
    const grew = count > state.unread;
    if (count !== state.unread) { state.unread = count; emit("unread", count); }
    if (live && grew) { flashTitle(); ding(); }
    markRead();
    widget.renderChrome();
  }

  function markRead() {
    const last = state.seq.last;
    if (!state.open || document.hidden || !state.conversationId || !last) return;
    if (state.read.c === state.conversationId && state.read.s >= last) return;
    const previous = state.read.c === state.conversationId ? state.read.s : 0;
    // A receipt only matters when it covers something the other side wrote.
    const news = state.list.some((m) => m.conversation_id === state.conversationId && m.seq > previous
      && m.seq <= last && m.sender_type !== "visitor");
    state.read = { c: state.conversationId, s: last };
    store.set("read", state.read);
    tellOtherTabs({ read: state.read });
    if (news) widget.send({ type: "read", seq: last });
    state.unread = 0;
    emit("unread", 0);
    widget.renderChrome();
  }

  function flashTitle() {
    if (!document.hidden || state.flashTimer) return;
    state.title = document.title;
    let on = false;
    state.flashTimer = setInterval(() => {
      on = !on;
      document.title = on ? "(" + state.unread + ") " + widget.t("newMessage") : state.title;
    }, 1000);
  }

  function ding() {
    if (!document.hidden || !state.settings.sound) return;
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      const oscillator = ctx.createOscillator();
      const gain = ctx.createGain();
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.4);
      oscillator.connect(gain);
      gain.connect(ctx.destination);
      oscillator.start();
      oscillator.stop(ctx.currentTime + 0.4);
      setTimeout(() => ctx.close(), 600);
    } catch (e) { /* autoplay policy */ }
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) return;
    if (state.flashTimer) { clearInterval(state.flashTimer); state.flashTimer = 0; document.title = state.title; }
    markRead();
  });

  function setOpen(open, fromOtherTab) {
    open = !!open;
    if (open === state.open) return;
    state.open = open;
    store.set("open", open);
    if (!fromOtherTab) tellOtherTabs({ open });
    widget.renderChrome();
    if (open) {
      widget.scrollDown();
      markRead();
      if (window.matchMedia && !window.matchMedia("(max-width:480px)").matches) setTimeout(() => ui.input.focus(), 50);
    }
    emit(open ? "open" : "close");
  }

  // --- typing --------------------------------------------------------------------------------
  function onInput() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(120, ui.input.scrollHeight) + "px";
    const now = Date.now();
    if (ui.input.value && now - state.typingSentAt > 2000) {
      state.typingSentAt = now;
      widget.send({ type: "typing", state: true });
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopTyping, 3000);
  }

  function stopTyping() {
    clearTimeout(state.typingTimer);
    if (state.typingSentAt) { state.typingSentAt = 0; widget.send({ type: "typing", state: false }); }
  }

  // --- composing and the offline outbox ------------------------------------------------------
  function onKey(e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  }

  function insertText(text) {
    const input = ui.input;
    const at = input.selectionStart == null ? input.value.length : input.selectionStart;
    input.value = input.value.slice(0, at) + text + input.value.slice(input.selectionEnd == null ? at : input.selectionEnd);
    input.selectionStart = input.selectionEnd = at + text.length;
    ui.emoji.hidden = true;
    input.focus();
  }

  function submit() {
    const text = ui.input.value.trim();
    if (!text || ui.input.disabled) return;
    ui.input.value = "";
    ui.input.style.height = "auto";
    ui.emoji.hidden = true;
    stopTyping();
    sendText(text);
  }

  function sendText(text) {
    enqueue({ client_msg_id: newClientId(), kind: "text", body: text });
  }

  function enqueue(item, row) {
    widget.outbox.add(item);
    pendingRow(item, row);
    trySend(item);
    if (state.conv && state.conv.status === "closed") state.rating = null;
    widget.scrollDown();
  }

  function pendingRow(item, row) {
    let pending = state.pending[item.client_msg_id];
    if (!pending) {
      const draft = { sender_type: "visitor", kind: item.kind, body: item.body, attachment: item.attachment || null };
      pending = state.pending[item.client_msg_id] = { row: row || widget.renderMessage(draft), item };
      ui.tail.appendChild(pending.row);
    }
    pending.item = item;
    if (pending.row._st) pending.row._st.textContent = state.ready ? widget.t("sending") : widget.t("queued");
    widget.updateReceipts();
    return pending;
  }

  function trySend(item) {
    if (!state.ready) return;
    const frame = { type: "send", client_msg_id: item.client_msg_id, kind: item.kind, body: item.body || "" };
    if (item.attachment_id) frame.attachment_id = item.attachment_id;
    widget.send(frame);
  }

  function flushOutbox() {
    widget.outbox.items().forEach((item) => { pendingRow(item); trySend(item); });
  }

  function markFailed(id, why) {
    const pending = state.pending[id];
    if (!pending || !pending.row._st) return;
    pending.row._st.textContent = widget.t("failed") + (why ? " · " + why : "");
    pending.row._st.classList.add("err");
  }

  function sendContact(values) {
    state.contactPending = values;
    if (widget.send(Object.assign({ type: "contact" }, values))) state.contactPending = null;
  }

  function handoff() {
    widget.send({ type: "handoff" });
    ui.human.hidden = true;
    ui.actions.hidden = true;
  }

  // --- language and the public API: kefu('open') ... -----------------------------------------
  function preferredLocale() {
    return pickLocale(boot.locale) || pickLocale(navigator.language) || pickLocale(state.settings.locale) || "en";
  }

  function setLocale(code, rebuild) {
    const locale = pickLocale(code);
    if (!locale) return;
    state.locale = locale;
    const builtin = translator(locale);
    // Tenant wording wins: settings.texts = {"en": {"title": ...}, "zh-hans": {...}}.
    widget.t = (key, vars) => {
      const own = state.settings.texts && state.settings.texts[locale] && state.settings.texts[locale][key];
      return typeof own === "string" && own ? own : builtin(key, vars);
    };
    if (rebuild && ui.k) widget.buildShell();
  }

  function command(name, arg, extra) {
    switch (name) {
      case "open": setOpen(true); break;
      case "close": setOpen(false); break;
      case "toggle": setOpen(!state.open); break;
      case "setUser":
        if (arg && arg.id != null) {
          state.user = { id: String(arg.id), name: arg.name || "", email: arg.email || "", hash: arg.hash || "" };
          widget.reconnectAs();
        }
        break;
      case "setAttributes":
        if (arg && typeof arg === "object") {
          state.attributes = Object.assign({}, state.attributes, arg);
          widget.reconnectAs();
        }
        break;
      case "setLocale": state.localeForced = true; setLocale(arg, true); break;
      case "on":
        if (listeners[arg] && typeof extra === "function") listeners[arg].push(extra);
        break;
      default: break;
    }
  }

  Object.assign(widget, { conversationIndex, setConversation, resetConversation, addMessage, accountFor, afterMessages, latest,
    markRead, setOpen, onInput, onKey, insertText, submit, sendText, enqueue, pendingRow, trySend, flushOutbox,
    markFailed, sendContact, handoff, preferredLocale, setLocale });

  // The shell is drawn at once from the last known settings (so the launcher shows even
  // while the server is unreachable) and redrawn if the bootstrap brings new ones.
  state.settings = store.get("settings", {});
  setLocale(preferredLocale(), false);
  if (boot.locale) state.localeForced = true;
  widget.buildShell();
  boot.api.h = command;
  // Calls queued before the script loaded (setUser, setLocale, open) apply before the
  // first bootstrap.
  boot.q.splice(0).forEach((args) => command.apply(null, args));
  window.addEventListener("online", () => {
    if (!state.ws) { state.retries = 0; widget.start(); }
  });
  widget.start();
  return widget;
}
