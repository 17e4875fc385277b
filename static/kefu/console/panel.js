// The right column: who the visitor is, tags, past conversations, AI assist.

import { api } from "./api.js";
import { avatar, clear, el, fmtTime, icon, safeUrl, t, toast } from "./dom.js";

export class VisitorPanel {
  constructor(app) {
    this.app = app;
    this.root = document.getElementById("panel");
    this.conv = null;
  }

  clear() { clear(this.root); }

  async show(conv) {
    this.conv = conv;
    clear(this.root).append(el("div", { class: "loading", text: t("Loading…") }));
    let v;
    try {
      v = await api(`console/visitors/${conv.visitor.id}/`, { query: { conversation_id: conv.id } });
    } catch (err) { clear(this.root); return; }
    if (this.conv !== conv) return;
    this.visitor = v;
    clear(this.root).append(this.profile(v), this.tags(conv), this.assist(), this.details(v), this.past(v), this.attributes(v));
  }

  section(title, ...children) {
    return el("section", { class: "panel-section" }, el("h3", { text: title }), ...children);
  }

  profile(v) {
    const field = (name, label, type = "text") => el("label", { class: "field" }, el("span", { text: label }),
      el("input", { name, type, value: v[name] || "", placeholder: "—", "data-field": name }));
    const form = el("form", { class: "profile-form", onsubmit: async (e) => {
      e.preventDefault();
      const body = Object.fromEntries(new FormData(form).entries());
      try {
        const fresh = await api(`console/visitors/${v.id}/`, { method: "PATCH", body });
        toast(t("Saved."));
        this.visitor = fresh;
        this.root.querySelector(".visitor-name").textContent = fresh.display_name;
      } catch (err) { toast(err.message, "error"); }
    } }, field("name", t("Name")), field("email", t("Email"), "email"), field("phone", t("Phone"), "tel"),
    el("button", { class: "btn small", type: "submit" }, t("Save")));
    return el("section", { class: "panel-section profile" },
      el("div", { class: "visitor-head" }, avatar(v.display_name, "xl"),
        el("div", {}, el("div", { class: "visitor-name", text: v.display_name }),
          v.identity_verified ? el("span", { class: "badge verified", title: t("The host site signed this identity") }, "✔ ", t("Verified"))
            : el("span", { class: "badge muted", text: t("Anonymous") }))),
      form);
  }

  tags(conv) {
    const list = el("div", { class: "tag-list" });
    const render = () => {
      clear(list);
      for (const tag of conv.tags || []) {
        list.append(el("span", { class: "tag", style: `--tag:${/^#[0-9a-f]{3,8}$/i.test(tag.color) ? tag.color : "#8c8c8c"}` },
          el("span", { text: tag.name }),
          el("button", { type: "button", class: "tag-x", title: t("Remove"), "aria-label": t("Remove"), onclick: async () => {
            try {
              await api(`console/conversations/${conv.id}/tags/${tag.id}/`, { method: "DELETE" });
              conv.tags = conv.tags.filter((x) => x.id !== tag.id);
              render();
            } catch (err) { toast(err.message, "error"); }
          } }, "×")));
      }
    };
    render();
    const options = el("datalist", { id: "tag-options" }, ...(this.app.meta.tags || []).map((x) => el("option", { value: x.name })));
    const input = el("input", { class: "tag-input", list: "tag-options", placeholder: t("Add a tag…"), maxlength: 50 });
    input.addEventListener("keydown", async (e) => {
      if (e.key !== "Enter" || !input.value.trim()) return;
      e.preventDefault();
      try {
        const tag = await api(`console/conversations/${conv.id}/tags/`, { method: "POST", body: { name: input.value.trim() } });
        if (!conv.tags.some((x) => x.id === tag.id)) conv.tags.push(tag);
        if (!this.app.meta.tags.some((x) => x.id === tag.id)) this.app.meta.tags.push(tag);
        input.value = "";
        render();
      } catch (err) { toast(err.message, "error"); }
    });
    return this.section(t("Tags"), list, input, options);
  }

  assist() {
    const out = el("div", { class: "assist-out" });
    const button = el("button", { class: "btn small", type: "button", id: "assist-button", onclick: async () => {
      button.disabled = true;
      clear(out).append(el("div", { class: "muted", text: t("Thinking…") }));
      try {
        const res = await api(`console/conversations/${this.conv.id}/assist/`, { method: "POST" });
        this.renderAssist(out, res);
      } catch (err) {
        clear(out).append(el("div", { class: "muted", text: err.status === 503 ? t("AI assist is unavailable right now.") : err.message }));
      } finally { button.disabled = false; }
    } }, icon("spark"), t("Suggest replies"));
    return this.section(t("AI assist"), button, out);
  }

  renderAssist(out, res) {
    clear(out);
    if (!res.configured) {
      out.append(el("div", { class: "muted assist-off", text: t("AI assist is not configured for this workspace.") }));
      return;
    }
    if (res.summary) out.append(el("div", { class: "summary" }, el("strong", { text: t("Summary") }), el("p", { text: res.summary })));
    for (const s of res.suggestions || []) {
      const sources = (s.sources || []).map((src) => {
        const url = src.url && safeUrl(src.url);
        return url ? el("a", { class: "chip", href: url, target: "_blank", rel: "noopener noreferrer", title: src.snippet || "", text: src.title || url })
          : el("span", { class: "chip", title: src.snippet || "", text: src.title });
      });
      out.append(el("div", { class: "suggestion" }, el("p", { text: s.text }),
        sources.length ? el("div", { class: "sources" }, t("Sources:"), " ", ...sources) : null,
        el("button", { class: "btn small", type: "button", onclick: () => this.app.conversation.insertText(s.text) }, t("Insert"))));
    }
    if (!(res.suggestions || []).length) out.append(el("div", { class: "muted", text: t("No suggestions.") }));
  }

  details(v) {
    const rows = [];
    const row = (label, value) => { if (value) rows.push(el("dt", { text: label }), el("dd", {}, value)); };
    const d = v.device || {};
    const device = [d.browser && `${d.browser} ${d.browser_version}`.trim(), d.os && `${d.os} ${d.os_version}`.trim(), d.device && t(`device_${d.device}`)]
      .filter(Boolean).join(" · ");
    if (v.location) row(t("Location"), [v.location.city, v.location.country].filter(Boolean).join(", "));
    row(t("Device"), device);
    const link = (u) => { const url = safeUrl(u); return url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: u }) : el("span", { text: u }); };
    if (v.current_url) row(t("Current page"), link(v.current_url));
    if (v.referrer) row(t("Referrer"), link(v.referrer));
    if (v.last_seen_at) row(t("Last seen"), fmtTime(v.last_seen_at));
    if (v.external_id) row(t("User id"), v.external_id);
    return this.section(t("Details"), el("dl", { class: "details" }, rows));
  }

  past(v) {
    const items = (v.past_conversations || []).map((c) => el("li", {},
      el("a", { href: `#c${c.id}`, onclick: (e) => { e.preventDefault(); this.app.openConversation(c.id); } },
        `#${c.id} · ${fmtTime(c.created_at)}`),
      " ", el("span", { class: `status-pill ${c.status}`, text: t(`status_${c.status}`) }),
      c.rating ? el("span", { class: "rating", text: " " + "★".repeat(c.rating) }) : null));
    return this.section(t("Past conversations"), items.length ? el("ul", { class: "past" }, items) : el("div", { class: "muted", text: t("None") }));
  }

  attributes(v) {
    const entries = Object.entries(v.attributes || {});
    if (!entries.length) return "";
    return this.section(t("Custom attributes"), el("dl", { class: "details" },
      entries.flatMap(([k, val]) => [el("dt", { text: k }), el("dd", { text: String(val) })])));
  }
}
