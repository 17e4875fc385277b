// Entry point of the agent console: wires the socket, the inbox and the two other columns.

import { api, setBase } from "./api.js";
import { ConversationView } from "./conversation.js";
import { avatar, clear, el, fmtTime, icon, setMessages, t, toast } from "./dom.js";
import { VisitorPanel } from "./panel.js";
import { AgentSocket } from "./socket.js";

const BOXES = ["mine", "queued", "bot", "all", "closed"];

class Inbox {
  constructor(app) {
    this.app = app;
    this.box = "mine";
    this.filters = { team_id: "", tag_id: "", q: "" };
    this.items = new Map();
    this.counts = {};
    this.list = document.getElementById("inbox-list");
    this.tabs = document.getElementById("inbox-tabs");
    this.buildControls();
  }

  buildControls() {
    const boxes = BOXES.filter((b) => b !== "all" || this.app.config.agent.is_admin);
    clear(this.tabs);
    for (const b of boxes) {
      this.tabs.append(el("button", { type: "button", class: "tab", dataset: { box: b }, role: "tab", onclick: () => this.select(b) },
        el("span", { text: t(`box_${b}`) }), el("span", { class: "count", dataset: { count: b } })));
    }
    const search = document.getElementById("inbox-search");
    let timer;
    search.placeholder = t("Search visitors and messages");
    search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { this.filters.q = search.value; this.refresh(); }, 250); });
    this.markTabs();
  }

  fillFilters(meta) {
    const team = document.getElementById("filter-team");
    const tag = document.getElementById("filter-tag");
    clear(team).append(el("option", { value: "", text: t("All teams") }), ...meta.teams.map((x) => el("option", { value: x.id, text: x.name })));
    clear(tag).append(el("option", { value: "", text: t("All tags") }), ...meta.tags.map((x) => el("option", { value: x.id, text: x.name })));
    team.onchange = () => { this.filters.team_id = team.value; this.refresh(); };
    tag.onchange = () => { this.filters.tag_id = tag.value; this.refresh(); };
  }

  select(box) { this.box = box; this.markTabs(); this.refresh(); }

  markTabs() {
    for (const tab of this.tabs.children) tab.classList.toggle("active", tab.dataset.box === this.box);
  }

  setCounts(counts) {
    this.counts = { ...this.counts, ...counts };
    for (const node of this.tabs.querySelectorAll("[data-count]")) {
      const n = this.counts[node.dataset.count];
      node.textContent = n ? String(n) : "";
    }
    const unread = this.counts.unread || 0;
    document.title = (unread ? `(${unread}) ` : "") + t("Kefu console");
  }

  async refresh() {
    const seq = (this.seq = (this.seq || 0) + 1);
    try {
      const res = await api("console/inbox/", { query: { box: this.box, ...this.filters } });
      if (seq !== this.seq) return; // a newer refresh won
      this.items = new Map(res.results.map((c) => [c.id, c]));
      this.setCounts(res.counts);
      this.render();
    } catch (err) { toast(err.message, "error"); }
  }

  render() {
    clear(this.list);
    if (!this.items.size) {
      this.list.append(el("li", { class: "inbox-empty", text: t("Nothing here. Enjoy the quiet.") }));
      return;
    }
    for (const c of this.items.values()) this.list.append(this.row(c));
  }

  row(c) {
    const current = this.app.conversation.id === c.id;
    const preview = c.preview ? (c.preview.kind === "text" || c.preview.kind === "rich_text" || c.preview.kind === "event"
      ? c.preview.body : t(`kind_${c.preview.kind}`)) : "";
    const who = c.preview && c.preview.sender_type !== "visitor" && c.preview.kind !== "event" ? t("You/agent: ") : "";
    return el("li", { class: `inbox-item${current ? " active" : ""}${c.unread && !current ? " unread" : ""}`, dataset: { id: c.id },
      tabindex: 0, onclick: () => this.app.openConversation(c.id), onkeydown: (e) => { if (e.key === "Enter") this.app.openConversation(c.id); } },
    avatar(c.visitor.name),
    el("div", { class: "item-main" },
      el("div", { class: "item-top" }, el("span", { class: "item-name", text: c.visitor.name }),
        el("time", { text: fmtTime(c.last_message_at) })),
      el("div", { class: "item-preview", text: who + preview }),
      el("div", { class: "item-tags" },
        el("span", { class: `status-dot ${c.status}`, title: t(`status_${c.status}`) }),
        c.assignee ? el("span", { class: "assignee", text: c.assignee.name }) : null,
        ...c.tags.slice(0, 3).map((tag) => el("span", { class: "mini-tag", text: tag.name })))),
    c.unread && !current ? el("span", { class: "unread-badge", text: String(Math.min(c.unread, 99)) }) : null);
  }

  markRead(id) {
    const c = this.items.get(id);
    if (c && c.unread) { c.unread = 0; this.render(); }
  }

  onMessage(m) {
    const c = this.items.get(m.conversation_id);
    if (!c) { this.app.refreshInbox(); return; }
    if (!m.is_internal && m.kind !== "event") {
      c.preview = { kind: m.kind, body: (m.body || "").slice(0, 140), sender_type: m.sender_type };
      c.last_message_at = m.created_at;
    }
    c.last_seq = Math.max(c.last_seq, m.seq);
    if (this.app.conversation.id !== m.conversation_id || document.hidden) c.unread = (c.unread || 0) + 1;
    // Most recent first: move the row to the top.
    this.items.delete(c.id);
    this.items = new Map([[c.id, c], ...this.items]);
    this.render();
  }
}

class Notifier {
  constructor() {
    this.button = document.getElementById("notify-button");
    this.update();
    this.button?.addEventListener("click", async () => {
      if ("Notification" in window) await Notification.requestPermission();
      this.update();
    });
  }

  update() {
    if (!this.button) return;
    const state = "Notification" in window ? Notification.permission : "denied";
    this.button.hidden = state !== "default";
    clear(this.button).append(icon("bell"), t("Enable notifications"));
  }

  beep() {
    try {
      const ctx = this.ctx || (this.ctx = new AudioContext());
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.08, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.35);
      osc.connect(gain).connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.35);
    } catch (e) { /* audio blocked until the first click: fine */ }
  }

  notify(title, body, onclick) {
    this.beep();
    if (!("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
    const n = new Notification(title, { body: String(body || "").slice(0, 140), tag: title });
    n.onclick = () => { window.focus(); onclick?.(); n.close(); };
  }
}

class App {
  constructor(config) {
    this.config = config;
    this.meta = { agents: [], teams: [], tags: [] };
    this.canned = null;
    setMessages(config.messages);
    setBase(config.api);
    this.socket = new AgentSocket(config.ws_path);
    this.notifier = new Notifier();
    this.conversation = new ConversationView(this);
    this.panel = new VisitorPanel(this);
    this.inbox = new Inbox(this);
    this.bindSocket();
    this.bindPresence();
  }

  async start() {
    this.socket.connect();
    this.meta = await api("console/meta/");
    this.inbox.fillFilters(this.meta);
    await this.inbox.refresh();
    const m = location.hash.match(/^#c(\d+)$/);
    if (m) this.openConversation(Number(m[1]));
    document.addEventListener("visibilitychange", () => { if (!document.hidden) this.conversation.markRead(); });
  }

  openConversation(id) {
    history.replaceState(null, "", `#c${id}`);
    this.conversation.open(id).then(() => this.inbox.render());
    this.inbox.render();
  }

  refreshInbox() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.inbox.refresh(), 150);
  }

  bindPresence() {
    const select = document.getElementById("presence");
    for (const option of select.options) option.textContent = t(`presence_${option.value}`);
    select.value = this.config.agent.presence === "offline" ? "online" : this.config.agent.presence;
    select.addEventListener("change", () => {
      this.socket.send({ type: "presence", status: select.value });
      document.getElementById("presence-dot").className = `presence-dot ${select.value}`;
    });
    document.getElementById("presence-dot").className = `presence-dot ${select.value}`;
  }

  bindSocket() {
    const s = this.socket;
    const banner = document.getElementById("conn-banner");
    s.on("_open", () => {
      banner.hidden = true;
      const presence = document.getElementById("presence").value;
      s.send({ type: "presence", status: presence });
    });
    s.on("_close", () => { banner.hidden = false; banner.textContent = t("Connection lost. Reconnecting…"); });
    s.on("welcome", (f) => { if (f.counts) this.inbox.setCounts(f.counts); this.refreshInbox(); });
    s.on("inbox", (f) => this.inbox.setCounts(f.counts || {}));
    s.on("message", (f) => {
      const m = f.message;
      if (!m) return;
      this.conversation.insert(m, true);
      this.inbox.onMessage(m);
      if (m.sender_type === "visitor" && (document.hidden || this.conversation.id !== m.conversation_id)) {
        const c = this.inbox.items.get(m.conversation_id);
        this.notifier.notify(t("New message from {name}", { name: c ? c.visitor.name : t("Visitor") }), m.body || t(`kind_${m.kind}`),
          () => this.openConversation(m.conversation_id));
      }
    });
    s.on("messages", (f) => this.conversation.onMessages(f));
    s.on("ack", (f) => this.conversation.onAck(f));
    s.on("typing", (f) => this.conversation.onTyping(f));
    s.on("read", (f) => this.conversation.onRead(f));
    s.on("bot.delta", (f) => this.conversation.onBotDelta(f));
    s.on("bot.done", (f) => this.conversation.onBotDone(f));
    s.on("bot.failed", (f) => this.conversation.onBotFailed(f));
    s.on("error", (f) => this.conversation.onError(f));
    s.on("conversation", (f) => {
      const c = f.conversation;
      if (!c) return;
      this.conversation.onConversation(c);
      this.refreshInbox();
      const me = this.config.agent.id;
      if (f.event === "opened") {
        this.notifier.notify(t("New conversation"), c.visitor?.name || "", () => this.openConversation(c.id));
      } else if ((f.event === "transferred" || f.event === "assigned") && c.assignee && c.assignee.id === me
        && this.conversation.id !== c.id) {
        this.notifier.notify(t("A conversation was assigned to you"), c.visitor?.name || "", () => this.openConversation(c.id));
        toast(t("A conversation was assigned to you") + ": " + (c.visitor?.name || ""));
      }
    });
    s.on("presence", (f) => {
      const a = this.meta.agents.find((x) => x.id === f.agent_id);
      if (a) a.presence = f.status;
    });
  }
}

const config = JSON.parse(document.getElementById("kefu-config").textContent);
const app = new App(config);
window.kefuConsole = app; // for debugging and tests
app.start().catch((err) => toast(String(err.message || err), "error"));
