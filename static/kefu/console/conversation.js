// The middle column: one conversation's history, live updates and the composer.

import { api } from "./api.js";
import { avatar, clear, displayBody, el, fmtSize, fmtTime, icon, renderMarkdown, t, toast } from "./dom.js";

const TYPING_THROTTLE_MS = 2000;

export class ConversationView {
  constructor(app) {
    this.app = app;
    this.root = document.getElementById("conversation");
    this.id = null;
    this.conv = null;
    this.bySeq = new Map();          // seq -> message payload
    this.pending = new Map();        // client_msg_id -> bubble element
    this.streams = new Map();        // stream_id -> bubble element
    this.lowest = null;              // lowest seq loaded (for infinite scroll)
    this.contiguous = 0;             // highest seq with no gap below it
    this.hasMore = false;
    this.loadingOlder = false;
    this.visitorReadSeq = 0;
    this.lastTypingSent = 0;
    this.typingTimer = null;
    this.canned = [];
    this.cannedIndex = 0;
    this.renderEmpty();
  }

  renderEmpty() {
    clear(this.root).append(el("div", { class: "empty-state" },
      el("div", { class: "empty-icon" }, icon("chat", "icon big")),
      el("h2", { text: t("Select a conversation") }),
      el("p", { text: t("Pick a conversation from the inbox to start helping.") })));
  }

  async open(id) {
    if (this.id === id) return;
    if (this.id) this.app.socket.unwatch(this.id);
    this.id = id;
    this.bySeq.clear(); this.pending.clear(); this.streams.clear();
    this.lowest = null; this.contiguous = 0; this.hasMore = false; this.visitorReadSeq = 0;
    this.readOnly = false; this.leaving = false; this.lostAccess = false;
    this.build();
    try {
      const [conv, page] = await Promise.all([
        api(`console/conversations/${id}/`),
        api(`console/conversations/${id}/history/`, { query: { limit: 50 } }),
      ]);
      if (this.id !== id) return;
      this.conv = conv;
      this.visitorReadSeq = conv.visitor_read_seq || 0;
      this.renderHeader();
      this.hasMore = page.has_more;
      this.insertMany(page.messages);
      this.contiguous = page.messages.length ? page.messages[page.messages.length - 1].seq : 0;
      this.scrollToBottom();
      this.app.socket.watch(id, () => this.contiguous);
      this.markRead();
      this.app.panel.show(conv);
    } catch (err) {
      if (this.id !== id) return;
      clear(this.root).append(el("div", { class: "empty-state" }, el("h2", { text: t("Conversation not found") })));
      this.id = null;
    }
  }

  build() {
    this.header = el("header", { class: "conv-header" });
    this.list = el("div", { class: "messages", role: "log", "aria-live": "polite" });
    this.list.addEventListener("scroll", () => { if (this.list.scrollTop < 60) this.loadOlder(); });
    this.typingEl = el("div", { class: "typing", hidden: true });
    this.cannedMenu = el("ul", { class: "canned-menu", role: "listbox", hidden: true });
    this.input = el("textarea", {
      id: "composer-input", rows: 3, placeholder: t("Reply… (Enter to send, Shift+Enter for a new line, / for canned replies)"),
    });
    this.internal = el("input", { type: "checkbox", id: "internal-toggle" });
    this.fileInput = el("input", { type: "file", hidden: true, multiple: true });
    this.composer = el("div", { class: "composer" },
      el("div", { class: "composer-tabs" },
        el("label", { class: "note-toggle" }, this.internal, " ", t("Internal note")),
        el("span", { class: "hint", text: t("Markdown: **bold**, *italic*, `code`, - lists") })),
      this.cannedMenu,
      this.input,
      el("div", { class: "composer-actions" },
        el("button", { class: "btn ghost", type: "button", title: t("Attach a file"), onclick: () => this.fileInput.click() }, icon("clip"), t("Attach")),
        this.fileInput,
        el("span", { class: "spacer" }),
        el("button", { class: "btn primary", id: "send-button", type: "button", onclick: () => this.submit() }, t("Send"))));
    this.internal.addEventListener("change", () => this.composer.classList.toggle("internal", this.internal.checked));
    this.input.addEventListener("keydown", (e) => this.onKey(e));
    this.input.addEventListener("input", () => { this.updateCanned(); this.sendTyping(); });
    this.input.addEventListener("paste", (e) => {
      const files = [...(e.clipboardData?.files || [])];
      if (files.length) { e.preventDefault(); files.forEach((f) => this.upload(f)); }
    });
    this.fileInput.addEventListener("change", () => { [...this.fileInput.files].forEach((f) => this.upload(f)); this.fileInput.value = ""; });
    this.notice = el("div", { class: "conv-notice", role: "status", hidden: true });
    const dropZone = el("section", { class: "conv" }, this.header, this.list, this.typingEl, this.notice, this.composer);
    dropZone.addEventListener("dragover", (e) => { e.preventDefault(); dropZone.classList.add("dragging"); });
    dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragging"));
    dropZone.addEventListener("drop", (e) => {
      e.preventDefault(); dropZone.classList.remove("dragging");
      [...(e.dataTransfer?.files || [])].forEach((f) => this.upload(f));
    });
    clear(this.root).append(dropZone);
    this.list.append(el("div", { class: "loading", text: t("Loading…") }));
  }

  /** May this agent still see and act on `c`? The server's rule (conversation_visible_to in kefu/access.py). */
  canAct(c) {
    const me = this.app.config.agent;
    if (me.is_admin || (c.assignee && c.assignee.id === me.id)) return true;
    return (c.status === "queued" || c.status === "bot") && (c.team_id == null || (me.team_ids || []).includes(c.team_id));
  }

  renderHeader() {
    const c = this.conv;
    if (!c) return;
    const me = this.app.config.agent;
    const mine = c.assignee && c.assignee.id === me.id;
    // Transferred away or taken by someone else: the server stops sending its events and
    // refuses our frames, so the view says so plainly and stays read-only.
    this.readOnly = this.lostAccess || !this.canAct(c);
    if (this.readOnly) this.app.socket.unwatch(c.id);
    const status = el("span", { class: `status-pill ${c.status}`, text: t(`status_${c.status}`) });
    const actions = el("div", { class: "conv-actions" });
    const btn = (label, fn, cls = "btn") => el("button", { class: cls, type: "button", onclick: fn, dataset: { action: label } }, t(label));
    if (this.readOnly) {
      // No actions: the conversation is someone else's now.
    } else if (c.status !== "closed") {
      if (!mine) actions.append(btn("Take over", () => this.action("take-over"), "btn primary"));
      if (c.status === "assigned") actions.append(btn("Hand back to bot", () => this.action("hand-back")));
      actions.append(btn("Transfer", () => this.openTransfer()));
      actions.append(btn("Close", () => this.action("close"), "btn danger"));
    } else {
      actions.append(btn("Reopen", () => this.action("reopen")));
    }
    const who = c.assignee ? t("Assigned to {name}", { name: c.assignee.name }) : t(`status_${c.status}`);
    clear(this.header).append(
      avatar(c.visitor.name, "lg"),
      el("div", { class: "conv-title" },
        el("h2", { text: c.visitor.name }),
        el("div", { class: "sub" }, status, " ", el("span", { text: `#${c.id} · ${who}` }))),
      actions);
    this.notice.hidden = !this.readOnly;
    this.notice.textContent = !this.readOnly ? "" : c.assignee
      ? t("This conversation is now with {name}. You can read it but no longer reply.", { name: c.assignee.name })
      : t("This conversation has left your inbox. You can read it but no longer reply.");
    const locked = c.status === "closed" || this.readOnly;
    this.composer.classList.toggle("disabled", locked);
    this.composer.hidden = this.readOnly;
    this.input.disabled = locked;
  }

  async action(name) {
    const id = this.id;
    const paths = { "take-over": `console/conversations/${id}/take-over/`, "hand-back": `console/conversations/${id}/hand-back/`,
      close: `conversations/${id}/close/`, reopen: `conversations/${id}/reopen/` };
    try {
      await api(paths[name], { method: "POST" });
      this.conv = await api(`console/conversations/${id}/`);
      this.renderHeader();
      this.app.refreshInbox();
    } catch (err) { toast(err.message, "error"); }
  }

  openTransfer() {
    const meta = this.app.meta;
    const target = el("select", { id: "transfer-target" },
      el("option", { value: "", text: t("Choose an agent or a team") }),
      el("optgroup", { label: t("Agents") }, ...meta.agents.filter((a) => a.id !== this.conv.assignee?.id)
        .map((a) => el("option", { value: `agent:${a.id}`, text: `${a.name} · ${t(`presence_${a.presence}`)}` }))),
      el("optgroup", { label: t("Teams") }, ...meta.teams.map((tm) => el("option", { value: `team:${tm.id}`, text: tm.name }))));
    const note = el("textarea", { id: "transfer-note", rows: 3, placeholder: t("Note for the next agent (optional)") });
    const dialog = el("dialog", { class: "modal", id: "transfer-dialog" },
      el("h3", { text: t("Transfer conversation") }), target, note,
      el("div", { class: "modal-actions" },
        el("button", { class: "btn", type: "button", onclick: () => dialog.close() }, t("Cancel")),
        el("button", { class: "btn primary", id: "transfer-confirm", type: "button", onclick: async () => {
          const [kind, value] = target.value.split(":");
          if (!value) return;
          const body = { note: note.value };
          body[kind === "agent" ? "agent_id" : "team_id"] = Number(value);
          this.leaving = true; // the transfer's own events arrive while we wait: no receipts for them
          try {
            this.conv = await api(`console/conversations/${this.id}/transfer/`, { method: "POST", body });
            dialog.close();
            toast(t("Transferred."));
            this.renderHeader();
            this.app.refreshInbox();
          } catch (err) { toast(err.message, "error"); }
          finally { this.leaving = false; }
        } }, t("Transfer"))));
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  }

  // --- messages ---------------------------------------------------------------

  bubble(m) {
    if (m.kind === "event") {
      const text = displayBody(m) || "";
      const note = m.meta && m.meta.note ? ` — ${m.meta.note}` : "";
      return el("div", { class: "event-line", dataset: { seq: m.seq } }, el("span", { text: text + note }));
    }
    const side = m.sender_type === "visitor" ? "in" : "out";
    const cls = ["msg", side, m.sender_type, m.is_internal ? "internal" : ""].join(" ");
    const body = el("div", { class: "body" });
    if (m.attachment) body.append(this.attachmentNode(m));
    const shown = displayBody(m);
    if (shown) {
      const text = el("div", { class: "text md" });
      text.append(renderMarkdown(shown));
      body.append(text);
    }
    if (m.meta && Array.isArray(m.meta.sources) && m.meta.sources.length) {
      body.append(el("div", { class: "sources" }, t("Sources:"), " ",
        ...m.meta.sources.slice(0, 5).map((s) => el("span", { class: "chip", text: s.title || s.url || "" }))));
    }
    const name = m.sender_type === "visitor" ? (this.conv?.visitor.name || t("Visitor"))
      : m.sender_type === "bot" ? t("Bot") : m.sender_type === "system" ? t("System") : (m.sender_name || t("Agent"));
    const meta = el("div", { class: "meta" },
      el("span", { class: "who", text: name }),
      m.is_internal ? el("span", { class: "badge note", text: t("Internal note") }) : null,
      el("time", { datetime: m.created_at, text: fmtTime(m.created_at) }),
      side === "out" && !m.is_internal ? el("span", { class: "receipt", text: m.seq && m.seq <= this.visitorReadSeq ? "✓✓" : "✓",
        title: m.seq && m.seq <= this.visitorReadSeq ? t("Read") : t("Sent") }) : null);
    return el("div", { class: cls, dataset: { seq: m.seq ?? "", cid: m.client_msg_id || "" } },
      side === "in" ? avatar(name) : null, el("div", { class: "col" }, body, meta));
  }

  attachmentNode(m) {
    const a = m.attachment;
    const url = a.url && a.url.startsWith("/") ? a.url : null;
    if (m.kind === "image" && url) {
      return el("a", { href: url, target: "_blank", rel: "noopener" },
        el("img", { class: "thumb", src: url, alt: a.name, loading: "lazy" }));
    }
    if (m.kind === "audio" && url) return el("audio", { controls: true, src: url, preload: "none" });
    return el("a", { class: "file", href: url || "#", target: "_blank", rel: "noopener", download: a.name },
      icon("file"), el("span", { class: "file-name", text: a.name }),
      el("span", { class: "file-size", text: fmtSize(a.size || 0) }));
  }

  insertMany(list) { list.forEach((m) => this.insert(m, false)); }

  insert(m, live = true) {
    if (!m || m.conversation_id !== this.id || !m.seq) return;
    if (this.bySeq.has(m.seq)) return; // dedup: replay and live frames overlap
    const stick = this.nearBottom();
    this.list.querySelector(".loading")?.remove();
    this.bySeq.set(m.seq, m);
    // A pending bubble of ours (same client_msg_id) is replaced by the stored one.
    if (m.client_msg_id && this.pending.has(m.client_msg_id)) {
      this.pending.get(m.client_msg_id).remove();
      this.pending.delete(m.client_msg_id);
    }
    const node = this.bubble(m);
    // Ordered insert by seq; pending (no seq) bubbles stay at the end.
    let before = null;
    for (const child of this.list.children) {
      const s = Number(child.dataset.seq);
      if (!child.dataset.seq) { before = before || child; continue; }
      if (s > m.seq) { before = child; break; }
    }
    this.list.insertBefore(node, before);
    if (this.lowest === null || m.seq < this.lowest) this.lowest = m.seq;
    if (live) {
      if (m.seq === this.contiguous + 1) {
        this.contiguous = m.seq;
        while (this.bySeq.has(this.contiguous + 1)) this.contiguous += 1;
      } else if (m.seq > this.contiguous + 1) {
        this.app.socket.send({ type: "resume", conversation_id: this.id, last_seq: this.contiguous });
      }
      if (stick || m.sender_type === "agent") this.scrollToBottom();
      this.markRead();
    }
  }

  onMessages(frame) {
    if (frame.conversation_id !== this.id) return;
    (frame.messages || []).forEach((m) => this.insert(m, true));
    if (frame.has_more) this.app.socket.send({ type: "resume", conversation_id: this.id, last_seq: this.contiguous });
  }

  async loadOlder() {
    if (!this.hasMore || this.loadingOlder || !this.lowest) return;
    this.loadingOlder = true;
    const id = this.id;
    const height = this.list.scrollHeight;
    try {
      const page = await api(`console/conversations/${id}/history/`, { query: { before_seq: this.lowest, limit: 50 } });
      if (this.id !== id) return;
      this.hasMore = page.has_more;
      this.insertMany(page.messages);
      this.list.scrollTop += this.list.scrollHeight - height; // keep the reader's place
    } catch (err) { toast(err.message, "error"); }
    finally { this.loadingOlder = false; }
  }

  nearBottom() { return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80; }
  scrollToBottom() { this.list.scrollTop = this.list.scrollHeight; }

  markRead() {
    // Not for a conversation we gave away (or are giving away): the server would refuse it.
    if (!this.id || document.hidden || this.readOnly || this.leaving) return;
    const seq = this.contiguous;
    if (seq && seq > (this.sentReadSeq || 0)) {
      this.sentReadSeq = seq;
      this.app.socket.send({ type: "read", conversation_id: this.id, seq });
      this.app.inbox.markRead(this.id);
    }
  }

  onRead(frame) {
    if (frame.conversation_id !== this.id || frame.reader !== "visitor") return;
    this.visitorReadSeq = Math.max(this.visitorReadSeq, frame.seq || 0);
    for (const node of this.list.querySelectorAll(".msg.out .receipt")) {
      const seq = Number(node.closest(".msg").dataset.seq);
      if (seq && seq <= this.visitorReadSeq) { node.textContent = "✓✓"; node.title = t("Read"); }
    }
  }

  onTyping(frame) {
    if (frame.conversation_id !== this.id || frame.sender_type === "agent" && frame.name === this.app.config.agent.name) return;
    clearTimeout(this.typingTimer);
    if (frame.state) {
      this.typingEl.hidden = false;
      this.typingEl.textContent = t("{name} is typing…", { name: frame.name || this.conv?.visitor.name || t("Visitor") });
      this.typingTimer = setTimeout(() => { this.typingEl.hidden = true; }, 6000);
    } else this.typingEl.hidden = true;
  }

  onBotDelta(frame) {
    if (frame.conversation_id !== this.id) return;
    let node = this.streams.get(frame.stream_id);
    if (!node) {
      node = el("div", { class: "msg out bot streaming" }, el("div", { class: "col" },
        el("div", { class: "body" }, el("div", { class: "text" })),
        el("div", { class: "meta" }, el("span", { class: "who", text: t("Bot") }), el("span", { class: "dots", text: "…" }))));
      node.dataset.raw = "";
      this.streams.set(frame.stream_id, node);
      this.list.append(node);
    }
    node.dataset.raw += frame.text || "";
    clear(node.querySelector(".text")).append(renderMarkdown(node.dataset.raw));
    if (this.nearBottom()) this.scrollToBottom();
  }

  onBotDone(frame) {
    if (frame.conversation_id !== this.id) return;
    this.streams.get(frame.stream_id)?.remove();
    this.streams.delete(frame.stream_id);
    if (frame.message) this.insert(frame.message, true);
  }

  onBotFailed(frame) {
    this.streams.get(frame.stream_id)?.remove();
    this.streams.delete(frame.stream_id);
  }

  onAck(frame) {
    const node = this.pending.get(frame.client_msg_id);
    if (node) { node.classList.remove("sending"); node.dataset.seq = frame.seq; }
  }

  onError(frame) {
    const node = frame.ref && this.pending.get(frame.ref);
    if (node) { node.classList.add("failed"); node.title = frame.message || frame.code; }
    // A receipt or typing signal refused because the conversation moved on is not the
    // agent's mistake: follow what happened instead of showing an error.
    if (!node && frame.code === "forbidden" && ["read", "typing", "watch", "resume"].includes(frame.ref)) {
      this.onLostAccess();
      return;
    }
    toast(frame.message || frame.code, "error");
  }

  /** The server refused a frame of ours for this conversation: it is no longer ours. */
  async onLostAccess() {
    const id = this.id;
    const conv = await api(`console/conversations/${id}/`).catch(() => null);
    if (this.id !== id) return;
    if (conv) this.conv = conv;
    this.lostAccess = !conv || !this.canAct(conv);
    this.renderHeader();
  }

  onConversation(conv) {
    if (!this.id || conv.id !== this.id || !this.conv) return;
    Object.assign(this.conv, { status: conv.status, assignee: conv.assignee, team_id: conv.team_id });
    this.renderHeader();
  }

  // --- composer ------------------------------------------------------------------

  sendFrame(fields) {
    const cid = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).slice(0, 64);
    const frame = { type: "send", conversation_id: this.id, client_msg_id: cid, is_internal: this.internal.checked, ...fields };
    const optimistic = this.bubble({ ...fields, client_msg_id: cid, conversation_id: this.id, sender_type: "agent",
      sender_name: this.app.config.agent.name, created_at: new Date().toISOString(), is_internal: frame.is_internal });
    optimistic.classList.add("sending");
    optimistic.dataset.seq = "";
    this.pending.set(cid, optimistic);
    this.list.append(optimistic);
    this.scrollToBottom();
    this.app.socket.send(frame);
  }

  submit() {
    const text = this.input.value.trim();
    if (!text || !this.id || this.readOnly) return;
    this.sendFrame({ kind: "text", body: text });
    this.input.value = "";
    this.hideCanned();
    this.app.socket.send({ type: "typing", conversation_id: this.id, state: false });
    this.lastTypingSent = 0;
  }

  sendTyping() {
    if (!this.id || this.internal.checked || this.readOnly) return;
    const now = Date.now();
    if (now - this.lastTypingSent < TYPING_THROTTLE_MS) return;
    this.lastTypingSent = now;
    this.app.socket.send({ type: "typing", conversation_id: this.id, state: true });
  }

  async upload(file) {
    if (!this.id) return;
    const form = new FormData();
    form.append("file", file, file.name || "pasted.png");
    toast(t("Uploading {name}…", { name: file.name || "image" }));
    try {
      const res = await api(`console/conversations/${this.id}/upload/`, { method: "POST", form });
      this.sendFrame({ kind: res.kind, body: "", attachment_id: res.attachment.id, attachment: res.attachment });
    } catch (err) { toast(err.message, "error"); }
  }

  insertText(text) {
    this.input.value = text;
    this.input.focus();
    this.input.setSelectionRange(text.length, text.length);
  }

  async updateCanned() {
    const m = this.input.value.match(/^\/(\S*)$/);
    if (!m) return this.hideCanned();
    if (!this.app.canned) this.app.canned = await api("console/canned-replies/").catch(() => []);
    const q = m[1].toLowerCase();
    this.canned = this.app.canned.filter((c) => c.shortcut.toLowerCase().startsWith(q) || c.title.toLowerCase().includes(q)).slice(0, 8);
    this.cannedIndex = 0;
    this.renderCanned();
  }

  renderCanned() {
    clear(this.cannedMenu);
    if (!this.canned.length) { this.cannedMenu.hidden = true; return; }
    this.canned.forEach((c, i) => this.cannedMenu.append(el("li", {
      class: i === this.cannedIndex ? "active" : "", role: "option", dataset: { shortcut: c.shortcut },
      onmousedown: (e) => { e.preventDefault(); this.pickCanned(i); },
    }, el("strong", { text: `/${c.shortcut}` }), " ", el("span", { class: "title", text: c.title }),
    el("div", { class: "preview", text: c.body.slice(0, 90) }))));
    this.cannedMenu.hidden = false;
  }

  hideCanned() { this.cannedMenu.hidden = true; this.canned = []; }

  pickCanned(i) {
    const c = this.canned[i];
    if (!c) return;
    this.insertText(c.body);
    this.hideCanned();
  }

  onKey(e) {
    if (!this.cannedMenu.hidden && this.canned.length) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        this.cannedIndex = (this.cannedIndex + (e.key === "ArrowDown" ? 1 : -1) + this.canned.length) % this.canned.length;
        return this.renderCanned();
      }
      if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); return this.pickCanned(this.cannedIndex); }
      if (e.key === "Escape") return this.hideCanned();
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.submit(); }
  }
}
