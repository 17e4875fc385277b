/* Kefu widget app: state, transport (docs/protocol.md v1) and the UI in a closed shadow root.
 * Loaded by widget.js after lib.js. Untrusted text is only ever placed with textContent
 * or text nodes (see lib.js `h` and `markdown`). */
(function () {
  "use strict";
  window.kefu._d("app", function (root, host, boot) {
    const L = boot.mods.lib();
    const h = L.h;
    const W = window;
    const D = document;
    const base = boot.base;
    const NS = "kefu:" + boot.key + ":";
    const OTHER_SENDERS = {agent: 1, bot: 1};
    const PERMANENT = {empty: 1, too_long: 1, bad_kind: 1, attachment_required: 1, bad_attachment: 1,
      bad_frame: 1, forbidden: 1, not_found: 1, too_large: 1};

    // --- storage (localStorage is per host origin, so tabs share the visitor) ---------
    const store = {
      get(k, d) {
        try { const v = W.localStorage.getItem(NS + k); return v == null ? d : JSON.parse(v); } catch (e) { return d; }
      },
      set(k, v) { try { W.localStorage.setItem(NS + k, JSON.stringify(v)); } catch (e) { /* private mode */ } },
    };
    const uuid = () => (W.crypto && crypto.randomUUID ? crypto.randomUUID()
      : "m" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12));

    const S = {
      vid: store.get("vid", null), token: null, tokenExp: 0, settings: {}, online: true,
      ws: null, ready: false, retry: 0, timer: 0, stopped: false, started: false,
      cid: null, cids: [], lastSeq: 0, rows: {}, list: [], pend: {}, streams: {}, agentRead: 0,
      open: !!store.get("open", false), unread: 0, read: store.get("read", {c: 0, s: 0}),
      user: null, attrs: null, locale: null, conv: null, queue: 0, contactDone: !!store.get("contact", 0),
      rating: null, typingSent: 0, typingTimer: 0, peerTyping: null, flashT: 0, title: "", resumeAt: 0,
    };
    const listeners = {message: [], open: [], close: [], unread: []};
    const emit = (name, data) => listeners[name].forEach((fn) => { try { fn(data); } catch (e) { /* host bug */ } });
    let t = L.translator("en");

    // --- UI shell ----------------------------------------------------------------------
    const ui = {};
    // Attachments and uploads live in files.js; it sees the app through this object.
    const F = boot.mods.files({h: h, L: L, base: base, root: root, S: S, ui: ui, uuid: uuid,
      t: (k, v) => t(k, v), enqueue: (item, row) => enqueue(item, row), scrollDown: () => scrollDown()});
    function buildShell() {
      // Redrawn when settings or the language change: keep what the visitor was typing.
      const draft = ui.input ? ui.input.value : "";
      const focused = ui.input && root.activeElement === ui.input;
      root.textContent = "";
      root.appendChild(h("style", {text: L.CSS}));
      const st = S.settings;
      ui.badge = h("span", {class: "badge", hidden: true});
      ui.launcher = h("button", {class: "lau", "aria-label": t("open"), onclick: () => setOpen(!S.open)},
        [L.icon("chat"), L.icon("down", 28), ui.badge]);
      ui.status = h("div", {class: "hs"});
      ui.avatar = h("div", {class: "av"}, [avatarImg() || L.icon("user", 22), h("span", {class: "dot"})]);
      ui.head = h("div", {class: "hd"}, [ui.avatar,
        h("div", {class: "ht"}, [h("div", {class: "hn", text: st.name || t("title")}), ui.status]),
        h("button", {class: "x", "aria-label": t("close"), onclick: () => setOpen(false)}, L.icon("down", 22))]);
      ui.bar = h("div", {class: "bar", hidden: true});
      ui.seqList = h("div");
      ui.tail = h("div");
      ui.typing = h("div", {class: "row", hidden: true},
        [h("div", {class: "col"}, [h("div", {class: "who"}), h("div", {class: "b tp"}, [h("i"), h("i"), h("i")])])]);
      ui.cards = h("div");
      ui.qr = h("div", {class: "qr", hidden: true});
      ui.log = h("div", {class: "log", role: "log", "aria-live": "polite"},
        [h("div", {class: "row"}, [botAvatar(), h("div", {class: "col"}, h("div", {class: "b"},
          L.markdown(st.welcome || t("welcome"))))]), ui.seqList, ui.tail, ui.qr, ui.typing, ui.cards]);
      ui.human = h("button", {class: "chip", text: t("human"), hidden: true, onclick: handoff});
      ui.acts = h("div", {class: "acts", hidden: true}, [ui.human]);
      ui.input = h("textarea", {rows: 1, placeholder: t("placeholder"), "aria-label": t("placeholder"),
        maxlength: 5000, oninput: onInput, onkeydown: onKey, onpaste: F.onPaste});
      ui.file = h("input", {type: "file", hidden: true, multiple: true,
        onchange: () => { Array.from(ui.file.files).forEach(F.upload); ui.file.value = ""; }});
      ui.emo = h("div", {class: "emo", hidden: true}, L.EMOJI.map((e) =>
        h("button", {text: e, "aria-label": e, onclick: () => insertText(e)})));
      ui.foot = h("div", {class: "ft"}, [ui.emo, h("div", {class: "cmp"}, [
        h("button", {class: "ib", title: t("emoji"), "aria-label": t("emoji"),
          onclick: () => { ui.emo.hidden = !ui.emo.hidden; }}, L.icon("smile")),
        h("button", {class: "ib", title: t("attach"), "aria-label": t("attach"), onclick: () => ui.file.click()},
          L.icon("clip")),
        ui.input, ui.file,
        h("button", {class: "ib sb", title: t("send"), "aria-label": t("send"), onclick: submit}, L.icon("send"))]),
      h("div", {class: "pw", text: t("poweredBy")})]);
      ui.drop = h("div", {class: "dz", text: t("drop"), hidden: true});
      ui.panel = h("div", {class: "panel", role: "dialog", "aria-label": st.name || t("title")},
        [ui.head, ui.bar, ui.log, ui.acts, ui.foot, ui.drop]);
      ui.panel.addEventListener("dragover", (e) => { e.preventDefault(); ui.drop.hidden = false; });
      ui.drop.addEventListener("dragleave", () => { ui.drop.hidden = true; });
      ui.panel.addEventListener("drop", (e) => {
        e.preventDefault(); ui.drop.hidden = true;
        Array.from((e.dataTransfer && e.dataTransfer.files) || []).forEach(F.upload);
      });
      ui.k = h("div", {class: "k" + (st.position === "left" ? " left" : "") + (S.open ? " isopen" : "")},
        [ui.panel, ui.launcher]);
      applyTheme();
      root.appendChild(ui.k);
      ui.input.value = draft;
      if (focused) ui.input.focus();
      S.list.forEach((m) => placeRow(m, renderMsg(m)));
      Object.keys(S.pend).forEach((id) => ui.tail.appendChild(S.pend[id].row));
      Object.keys(S.streams).forEach((id) => ui.tail.appendChild(S.streams[id].row));
      renderChrome();
    }

    function applyTheme() {
      const c = /^#[0-9a-f]{3,8}$/i.test(S.settings.color || "") ? S.settings.color : "#1677ff";
      ui.k.style.setProperty("--c", c);
      const hex = c.length === 4 ? c.replace(/#(.)(.)(.)/, "#$1$1$2$2$3$3") : c.slice(0, 7);
      const n = parseInt(hex.slice(1), 16);
      const lum = (0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255)) / 255;
      ui.k.style.setProperty("--ct", lum > 0.7 ? "#1f2329" : "#fff");
    }

    function assetUrl(u) {
      if (!u) return null;
      if (/^\/[^/]/.test(u)) return base + u;
      return L.safeUrl(u);
    }
    function avatarImg() {
      const src = assetUrl(S.settings.avatar);
      return src ? h("img", {src: src, alt: ""}) : null;
    }
    function botAvatar(m) {
      const name = (m && m.sender_name) || S.settings.name || "";
      const img = avatarImg();
      return h("div", {class: "mav"}, img || (name ? name.trim().charAt(0).toUpperCase() : L.icon("chat", 16)));
    }

    // Everything that depends on state but not on one message: header, bars, cards, badge.
    function renderChrome() {
      if (!ui.k) return;
      ui.k.classList.toggle("isopen", S.open);
      ui.k.classList.toggle("off", !S.online);
      ui.status.textContent = S.online ? t("online") : t("offline");
      ui.badge.hidden = S.open || !S.unread;
      ui.badge.textContent = S.unread > 99 ? "99+" : String(S.unread);
      let bar = "";
      if (S.started && !S.ready && S.disconnectedAt && Date.now() - S.disconnectedAt > 1500) bar = t("reconnecting");
      else if (S.online && S.conv && S.conv.status === "queued" && S.queue) {
        bar = S.queue === 1 ? t("queueNext") : t("queue", {n: S.queue - 1});
      }
      ui.bar.hidden = !bar;
      ui.bar.textContent = bar;
      const status = S.conv ? S.conv.status : null;
      ui.human.hidden = !(S.online && status === "bot");
      ui.acts.hidden = ui.human.hidden;
      renderCards();
    }

    function renderCards() {
      const closed = S.conv && S.conv.status === "closed";
      const wantsPrechat = S.settings.prechat && !S.cid && !S.contactDone && S.online;
      // Rebuild only when the set of cards changes, so a half-filled form survives
      // unrelated redraws (presence, queue, reconnects).
      const state = [closed, S.conv && S.conv.rating, S.rating, S.online, S.contactDone, wantsPrechat, S.locale].join();
      ui.input.disabled = !!(wantsPrechat && !S.contactDone);
      if (ui.cards.childNodes.length && ui.cards._state === state) return;
      ui.cards._state = state;
      ui.cards.textContent = "";
      if (closed && S.conv.rating == null && S.rating !== "done") ui.cards.appendChild(ratingCard());
      else if (S.rating === "done") ui.cards.appendChild(h("div", {class: "sys", text: t("rateThanks")}));
      if (closed) ui.cards.appendChild(h("div", {class: "sys", text: t("closed")}));
      if (!S.online && !S.contactDone) ui.cards.appendChild(contactCard("leaveTitle", "leaveText", "leaveSend", true));
      else if (wantsPrechat) ui.cards.appendChild(contactCard("prechatTitle", null, "start", false));
      else if (S.contactDone === "thanks") ui.cards.appendChild(h("div", {class: "sys", text: t("leaveThanks")}));
    }

    function contactCard(title, text, button, phone) {
      const known = S.user || {};
      const name = h("input", {placeholder: t("name"), autocomplete: "name", maxlength: 120, value: known.name || null});
      const email = h("input", {placeholder: t("email"), type: "email", autocomplete: "email", maxlength: 254,
        value: known.email || null});
      const tel = phone ? h("input", {placeholder: t("phone"), type: "tel", autocomplete: "tel", maxlength: 40}) : null;
      const err = h("div", {class: "ferr", hidden: true});
      const form = h("form", {novalidate: true, onsubmit: (e) => {
        e.preventDefault();
        const v = {name: name.value.trim(), email: email.value.trim(), phone: tel ? tel.value.trim() : ""};
        const problem = !v.name ? "required" : (v.email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v.email) ? "invalidEmail" : "");
        if (problem) { err.textContent = t(problem); err.hidden = false; return; }
        sendContact(v);
        S.contactDone = phone ? "thanks" : 1;
        store.set("contact", 1);
        renderChrome();
        ui.input.focus();
      }}, [name, email, tel, err, h("button", {class: "pb", type: "submit", text: t(button)})]);
      return h("div", {class: "card"}, [h("h4", {text: t(title)}), text && h("p", {text: t(text)}), form]);
    }

    function ratingCard() {
      let score = 0;
      const stars = [];
      const comment = h("textarea", {rows: 2, placeholder: t("rateComment"), maxlength: 1000});
      const go = h("button", {class: "pb", text: t("rateSend"), disabled: true, onclick: () => {
        wsSend({type: "rate", rating: score, comment: comment.value.trim()});
        S.rating = "done";
        renderCards();
      }});
      for (let i = 1; i <= 5; i++) {
        stars.push(h("button", {"aria-label": String(i), onclick: () => {
          score = i;
          stars.forEach((s, j) => s.classList.toggle("on", j < i));
          go.disabled = false;
        }}, L.icon("star", 30)));
      }
      return h("div", {class: "card"}, [h("h4", {text: t("rateTitle")}), h("div", {class: "stars"}, stars), comment, go]);
    }

    // --- messages ------------------------------------------------------------------------
    const key = (m) => m.conversation_id + ":" + m.seq;
    const cidIndex = (cid) => { let i = S.cids.indexOf(cid); if (i < 0) { S.cids.push(cid); i = S.cids.length - 1; } return i; };

    function setConversation(cid) {
      if (!cid || cid === S.cid) return;
      S.cid = cid;
      cidIndex(cid);
      S.lastSeq = 0;
      S.agentRead = 0;
      advance();
    }
    function advance() { while (S.rows[S.cid + ":" + (S.lastSeq + 1)]) S.lastSeq++; }

    function addMsg(m, live, batch) {
      if (!m || m.is_internal || m.seq == null) return;
      if (!S.cid) setConversation(m.conversation_id);
      if (m.conversation_id !== S.cid && cidIndex(m.conversation_id) > cidIndex(S.cid)) setConversation(m.conversation_id);
      const had = S.rows[key(m)];
      if (had && !had._local) return;
      if (had) {
        // Our stand-in built from the ack; the server's copy is complete (names, links).
        S.list.splice(S.list.indexOf(had), 1);
        const old = rowFor(had);
        if (old) old.remove();
      }
      S.rows[key(m)] = m;
      S.list.push(m);
      const pending = m.client_msg_id && S.pend[m.client_msg_id];
      if (pending) { pending.row.remove(); delete S.pend[m.client_msg_id]; dropOutbox(m.client_msg_id); }
      placeRow(m, renderMsg(m));
      if (m.conversation_id === S.cid) {
        advance();
        if (m.seq > S.lastSeq + 1 && Date.now() - S.resumeAt > 1000) {
          S.resumeAt = Date.now();
          wsSend({type: "resume", last_seq: S.lastSeq});
        }
      }
      if (OTHER_SENDERS[m.sender_type]) hidePeerTyping();
      if (!had) emit("message", JSON.parse(JSON.stringify(m)));
      if (!batch) afterMessages(live);
    }

    // Work that depends on the whole list: once per frame, not once per replayed message.
    function afterMessages(live) {
      renderQuickReplies();
      updateReceipts();
      recountUnread(live);
      scrollDown();
    }

    function latest(pred) {
      let best = null;
      for (let i = S.list.length - 1; i >= 0; i--) {
        const m = S.list[i];
        if (m.conversation_id === S.cid && pred(m) && (!best || m.seq > best.seq)) best = m;
      }
      return best;
    }

    const rowEls = {};
    function placeRow(m, row) {
      row._c = cidIndex(m.conversation_id);
      row._s = m.seq;
      let ref = null;
      const kids = ui.seqList.children;
      for (let i = kids.length - 1; i >= 0; i--) {
        const k = kids[i];
        if (k._c < row._c || (k._c === row._c && k._s < row._s)) break;
        ref = k;
      }
      ui.seqList.insertBefore(row, ref);
      rowEls[key(m)] = row;
    }

    function renderMsg(m) {
      if (m.kind === "event" || m.sender_type === "system") return h("div", {class: "sys", text: m.body});
      const me = m.sender_type === "visitor";
      const bubble = h("div", {class: "b"});
      fillBody(bubble, m, !me);
      const sources = ((m.meta && m.meta.sources) || []).slice(0, 5);
      const src = sources.length ? h("div", {class: "src"}, [t("sources") + ":"].concat(sources.map((s) => {
        const title = String((s && (s.title || s.name || s.url)) || "").slice(0, 80);
        const url = s && L.safeUrl(String(s.url || ""));
        return url ? h("a", {href: url, target: "_blank", rel: "noopener noreferrer nofollow", text: title, title: title})
          : h("span", {class: "s", text: title});
      }))) : null;
      if (src) bubble.appendChild(src);
      const who = me ? null : h("div", {class: "who", text: m.sender_name || t(m.sender_type === "bot" ? "bot" : "agent")});
      const st = me ? h("div", {class: "st"}) : null;
      const row = h("div", {class: "row" + (me ? " me" : "")}, [me ? null : botAvatar(m),
        h("div", {class: "col"}, [who, bubble, st])]);
      row._st = st;
      return row;
    }

    function fillBody(bubble, m, rich) {
      const a = m.attachment;
      if (a && m.kind === "image") {
        const img = h("img", {alt: a.name || t("image")});
        img.addEventListener("click", () => F.zoom(img.src));
        F.attachmentUrl(a, m).then((u) => { img.src = u; }, () => { img.alt = t("uploadFailed"); });
        bubble.appendChild(img);
      } else if (a && m.kind === "audio") {
        const au = h("audio", {controls: true, preload: "metadata"});
        F.attachmentUrl(a, m).then((u) => { au.src = u; }, () => {});
        bubble.appendChild(au);
      } else if (a) {
        bubble.appendChild(F.fileLink(a, m));
      }
      if (m.body) {
        if (rich) bubble.appendChild(L.markdown(m.body));
        else bubble.appendChild(h("div", {text: m.body, style: "white-space:pre-wrap"}));
      }
    }

    function renderQuickReplies() {
      const last = latest((m) => m.kind !== "event");
      const replies = last && OTHER_SENDERS[last.sender_type] && last.meta && last.meta.quick_replies;
      ui.qr.textContent = "";
      ui.qr.hidden = !(replies && replies.length);
      if (ui.qr.hidden) return;
      replies.slice(0, 8).forEach((r) => {
        const label = String(typeof r === "string" ? r : (r && (r.title || r.text)) || "").slice(0, 60);
        const payload = typeof r === "string" ? r : String((r && (r.payload || r.text || r.title)) || "");
        if (label) ui.qr.appendChild(h("button", {class: "chip", text: label, onclick: () => sendText(payload)}));
      });
    }

    // Only the visitor's latest message carries "Sent" / "Read", like most messengers.
    function updateReceipts() {
      if (S.receiptRow && S.receiptRow._st) S.receiptRow._st.textContent = "";
      const last = latest((m) => m.sender_type === "visitor");
      const row = last && rowFor(last);
      S.receiptRow = row;
      if (row && row._st && !Object.keys(S.pend).length) {
        row._st.textContent = last.seq <= S.agentRead ? t("read") : t("sent");
      }
    }
    function rowFor(m) { return rowEls[key(m)] || null; }

    function scrollDown() { if (ui.log) requestAnimationFrame(() => { ui.log.scrollTop = ui.log.scrollHeight; }); }

    // --- unread, read receipts, tabs -------------------------------------------------
    const sync = W.BroadcastChannel ? new BroadcastChannel(NS + "sync") : null;
    function tell(msg) {
      if (sync) sync.postMessage(msg);
      else store.set("sync", Object.assign({n: Math.random()}, msg));
    }
    function onSync(msg) {
      if (!msg) return;
      if ("open" in msg && msg.open !== S.open) setOpen(msg.open, true);
      if (msg.read && (msg.read.c !== S.read.c || msg.read.s > S.read.s)) { S.read = msg.read; recountUnread(false); }
    }
    if (sync) sync.onmessage = (e) => onSync(e.data);
    else W.addEventListener("storage", (e) => { if (e.key === NS + "sync" && e.newValue) onSync(JSON.parse(e.newValue)); });

    function recountUnread(live) {
      const readS = S.read.c === S.cid ? S.read.s : 0;
      const n = S.list.filter((m) => m.conversation_id === S.cid && OTHER_SENDERS[m.sender_type] && m.seq > readS).length;
      const grew = n > S.unread;
      if (n !== S.unread) { S.unread = n; emit("unread", n); }
      if (live && grew) { flashTitle(); ding(); }
      markRead();
      renderChrome();
    }

    function markRead() {
      if (!S.open || D.hidden || !S.cid || !S.lastSeq) return;
      if (S.read.c === S.cid && S.read.s >= S.lastSeq) return;
      const prev = S.read.c === S.cid ? S.read.s : 0;
      // A receipt only matters when it covers something the other side wrote.
      const news = S.list.some((m) => m.conversation_id === S.cid && m.seq > prev && m.seq <= S.lastSeq
        && m.sender_type !== "visitor");
      S.read = {c: S.cid, s: S.lastSeq};
      store.set("read", S.read);
      tell({read: S.read});
      if (news) wsSend({type: "read", seq: S.lastSeq});
      S.unread = 0;
      emit("unread", 0);
      renderChrome();
    }

    function flashTitle() {
      if (!D.hidden || S.flashT) return;
      S.title = D.title;
      let on = false;
      S.flashT = setInterval(() => {
        on = !on;
        D.title = on ? "(" + S.unread + ") " + t("newMessage") : S.title;
      }, 1000);
    }
    function ding() {
      if (!D.hidden || !S.settings.sound) return;
      try {
        const ctx = new (W.AudioContext || W.webkitAudioContext)();
        const o = ctx.createOscillator();
        const g = ctx.createGain();
        o.frequency.value = 880;
        g.gain.setValueAtTime(0.15, ctx.currentTime);
        g.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.4);
        o.connect(g); g.connect(ctx.destination);
        o.start(); o.stop(ctx.currentTime + 0.4);
        setTimeout(() => ctx.close(), 600);
      } catch (e) { /* autoplay policy */ }
    }
    D.addEventListener("visibilitychange", () => {
      if (D.hidden) return;
      if (S.flashT) { clearInterval(S.flashT); S.flashT = 0; D.title = S.title; }
      markRead();
    });

    function setOpen(v, fromTab) {
      v = !!v;
      if (v === S.open) return;
      S.open = v;
      store.set("open", v);
      if (!fromTab) tell({open: v});
      renderChrome();
      if (v) {
        scrollDown();
        markRead();
        if (W.matchMedia && !W.matchMedia("(max-width:480px)").matches) setTimeout(() => ui.input.focus(), 50);
      }
      emit(v ? "open" : "close");
    }

    // --- typing ----------------------------------------------------------------------------
    function onInput() {
      ui.input.style.height = "auto";
      ui.input.style.height = Math.min(120, ui.input.scrollHeight) + "px";
      const now = Date.now();
      if (ui.input.value && now - S.typingSent > 2000) { S.typingSent = now; wsSend({type: "typing", state: true}); }
      clearTimeout(S.typingTimer);
      S.typingTimer = setTimeout(stopTyping, 3000);
    }
    function stopTyping() {
      clearTimeout(S.typingTimer);
      if (S.typingSent) { S.typingSent = 0; wsSend({type: "typing", state: false}); }
    }
    function showPeerTyping(name) {
      ui.typing.hidden = false;
      ui.typing.querySelector(".who").textContent = t("typing", {name: name || t("someone")});
      clearTimeout(S.peerTyping);
      S.peerTyping = setTimeout(hidePeerTyping, 6000);
      scrollDown();
    }
    function hidePeerTyping() { clearTimeout(S.peerTyping); if (ui.typing) ui.typing.hidden = true; }

    // --- composing and the offline outbox -----------------------------------------------
    function onKey(e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    }
    function insertText(s) {
      const i = ui.input;
      const at = i.selectionStart == null ? i.value.length : i.selectionStart;
      i.value = i.value.slice(0, at) + s + i.value.slice(i.selectionEnd == null ? at : i.selectionEnd);
      i.selectionStart = i.selectionEnd = at + s.length;
      ui.emo.hidden = true;
      i.focus();
    }
    function submit() {
      const text = ui.input.value.trim();
      if (!text || ui.input.disabled) return;
      ui.input.value = "";
      ui.input.style.height = "auto";
      ui.emo.hidden = true;
      stopTyping();
      sendText(text);
    }
    function sendText(text) { enqueue({client_msg_id: uuid(), kind: "text", body: text}); }

    const outbox = () => store.get("outbox", []);
    function dropOutbox(id) { store.set("outbox", outbox().filter((x) => x.client_msg_id !== id)); }

    function enqueue(item, row) {
      // Persisted before the first try: a reload or a dead socket never loses it, and
      // the same client_msg_id on every retry makes the server store it once.
      const box = outbox();
      if (!box.some((x) => x.client_msg_id === item.client_msg_id)) { box.push(item); store.set("outbox", box); }
      pendingRow(item, row);
      trySend(item);
      if (S.conv && S.conv.status === "closed") { S.rating = null; }
      scrollDown();
    }

    function pendingRow(item, row) {
      let p = S.pend[item.client_msg_id];
      if (!p) {
        const m = {sender_type: "visitor", kind: item.kind, body: item.body, attachment: item.attachment || null};
        row = row || renderMsg(m);
        p = S.pend[item.client_msg_id] = {row: row, item: item};
        ui.tail.appendChild(row);
      }
      p.item = item;
      if (p.row._st) p.row._st.textContent = S.ready ? t("sending") : t("queued");
      updateReceipts();
      return p;
    }

    function trySend(item) {
      if (!S.ready) return;
      const f = {type: "send", client_msg_id: item.client_msg_id, kind: item.kind, body: item.body || ""};
      if (item.attachment_id) f.attachment_id = item.attachment_id;
      wsSend(f);
    }

    function flushOutbox() { outbox().forEach((item) => { pendingRow(item); trySend(item); }); }

    function fail(id, why) {
      const p = S.pend[id];
      if (!p) return;
      if (p.row._st) { p.row._st.textContent = t("failed") + (why ? " · " + why : ""); p.row._st.classList.add("err"); }
    }

    // --- transport ------------------------------------------------------------------------
    function wsSend(f) {
      if (S.ws && S.ready && S.ws.readyState === 1) { S.ws.send(JSON.stringify(f)); return true; }
      return false;
    }
    function sendContact(v) {
      S.contactPending = v;
      if (wsSend(Object.assign({type: "contact"}, v))) S.contactPending = null;
    }
    function handoff() {
      wsSend({type: "handoff"});
      ui.human.hidden = true;
      ui.acts.hidden = true;
    }

    function bootstrap() {
      const body = {widget_key: boot.key, visitor_id: S.vid, page_url: location.href, referrer: D.referrer,
        locale: S.locale};
      if (S.user) {
        // Verified on the server: hash = HMAC-SHA256(identity secret, user id).
        body.user_id = S.user.id;
        body.user_hash = S.user.hash;
        body.name = S.user.name;
        body.email = S.user.email;
      }
      if (S.attrs) body.attributes = S.attrs;
      return fetch(base + "/widget/api/bootstrap", {method: "POST", mode: "cors", credentials: "omit",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
        .then((r) => {
          if (r.status === 403) S.stopped = true;
          if (!r.ok) throw new Error("bootstrap " + r.status);
          return r.json();
        })
        .then((b) => {
          if (S.vid && b.visitor_id !== S.vid) resetConversation();
          S.vid = b.visitor_id;
          store.set("vid", S.vid);
          S.token = b.token;
          S.tokenExp = Date.now() + Math.max(60, (b.expires_in || 3600) - 60) * 1000;
          S.wsPath = b.ws_path || "/ws/visitor/";
          const before = JSON.stringify(S.settings);
          S.settings = b.settings || {};
          store.set("settings", S.settings);
          S.online = b.online !== false;
          if (b.conversation) { S.conv = b.conversation; setConversation(b.conversation.id); }
          S.queue = b.queue_position || 0;
          const loc = S.locale;
          if (!S.localeForced) setLocaleCode(pickLocale(), false);
          if (before !== JSON.stringify(S.settings) || loc !== S.locale) buildShell();
          else renderChrome();
        });
    }

    function resetConversation() {
      S.cid = null; S.cids = []; S.lastSeq = 0; S.rows = {}; S.list = []; S.conv = null;
      if (ui.seqList) { ui.seqList.textContent = ""; }
    }

    function start() {
      clearTimeout(S.timer);
      if (S.stopped || S.ws) return;
      S.started = true;
      const fresh = S.token && Date.now() < S.tokenExp;
      (fresh ? Promise.resolve() : bootstrap()).then(connect, retryLater);
    }

    function retryLater() {
      if (S.stopped) return;
      if (!S.disconnectedAt) S.disconnectedAt = Date.now();
      // Jittered exponential backoff: 0.5 s, 1 s, 2 s ... capped at 15 s, each 50-100 %.
      const d = Math.min(15000, 500 * Math.pow(2, S.retry++));
      clearTimeout(S.timer);
      S.timer = setTimeout(start, d / 2 + Math.random() * d / 2);
      setTimeout(renderChrome, 1600);
    }

    function connect() {
      if (S.ws || S.stopped) return;
      const ws = new WebSocket(base.replace(/^http/, "ws") + S.wsPath);
      S.ws = ws;
      ws.onopen = () => ws.send(JSON.stringify({type: "hello", v: 1, token: S.token, last_seq: S.lastSeq}));
      ws.onmessage = (e) => {
        let f;
        try { f = JSON.parse(e.data); } catch (err) { return; }
        if (f && typeof f.type === "string") onFrame(f);
      };
      ws.onclose = (e) => {
        if (S.ws !== ws) return;
        S.ws = null;
        S.ready = false;
        clearInterval(S.ping);
        if (e.code === 4003) { S.stopped = true; return; }
        if (e.code === 4001) S.token = null; // expired or rejected: bootstrap again
        Object.keys(S.pend).forEach((id) => pendingRow(S.pend[id].item));
        retryLater();
      };
    }

    const FRAMES = {
      welcome(f) {
        S.ready = true;
        S.retry = 0;
        S.disconnectedAt = 0;
        if ("online" in f) S.online = f.online !== false;
        if (f.conversation) { S.conv = f.conversation; setConversation(f.conversation.id); }
        if (f.last_seq > S.lastSeq) {
          // The server replays after hello; ask explicitly only if that did not happen.
          setTimeout(() => { if (S.cid && f.last_seq > S.lastSeq) wsSend({type: "resume", last_seq: S.lastSeq}); }, 800);
        }
        if (S.contactPending) sendContact(S.contactPending);
        clearInterval(S.ping);
        S.ping = setInterval(() => wsSend({type: "ping", ts: Date.now()}), 25000);
        flushOutbox();
        markRead();
        renderChrome();
      },
      ack(f) {
        if (!S.cid) setConversation(f.conversation_id);
        const p = S.pend[f.client_msg_id];
        dropOutbox(f.client_msg_id);
        if (p && !S.rows[f.conversation_id + ":" + f.seq]) {
          // The ack carries no body: complete the pending message from what was sent.
          addMsg({id: f.id, conversation_id: f.conversation_id, seq: f.seq, client_msg_id: f.client_msg_id,
            sender_type: "visitor", kind: p.item.kind, body: p.item.body, created_at: f.created_at,
            attachment: p.item.attachment || null, _local: true}, false);
        } else if (p) { p.row.remove(); delete S.pend[f.client_msg_id]; }
      },
      message(f) { addMsg(f.message, true); },
      messages(f) {
        (f.messages || []).forEach((m) => addMsg(m, false, true));
        afterMessages(false);
        const last = (f.messages || []).slice(-1)[0];
        if (f.has_more && last) wsSend({type: "resume", last_seq: last.seq});
      },
      "bot.delta"(f) {
        let s = S.streams[f.stream_id];
        if (!s) {
          const bubble = h("div", {class: "b cur"});
          const row = h("div", {class: "row"}, [botAvatar(), h("div", {class: "col"},
            [h("div", {class: "who", text: S.settings.name || t("bot")}), bubble])]);
          s = S.streams[f.stream_id] = {row: row, bubble: bubble, text: ""};
          ui.tail.appendChild(row);
        }
        hidePeerTyping();
        s.text += f.text || "";
        s.bubble.textContent = "";
        s.bubble.appendChild(L.markdown(s.text));
        scrollDown();
      },
      "bot.done"(f) { dropStream(f.stream_id); if (f.message) addMsg(f.message, true); },
      "bot.failed"(f) { dropStream(f.stream_id); },
      typing(f) {
        if (f.sender_type === "visitor") return;
        if (f.state) showPeerTyping(f.name); else hidePeerTyping();
      },
      read(f) {
        if (f.reader !== "agent" || f.conversation_id !== S.cid) return;
        S.agentRead = Math.max(S.agentRead, f.seq || 0);
        updateReceipts();
      },
      conversation(f) {
        if (!f.conversation) return;
        if (S.cid && f.conversation.id !== S.cid && f.event !== "opened") return;
        S.conv = f.conversation;
        setConversation(f.conversation.id);
        if (f.event === "closed") S.rating = null;
        if (f.event === "rated") S.rating = "done";
        renderChrome();
      },
      presence(f) { if ("online" in f) { S.online = !!f.online; renderChrome(); } },
      queue(f) {
        S.queue = f.position || 0;
        if (!S.conv && f.conversation_id) S.conv = {id: f.conversation_id};
        if (S.conv && S.queue) S.conv.status = "queued";
        renderChrome();
      },
      error(f) {
        const p = f.ref && S.pend[f.ref];
        if (!p) return;
        if (PERMANENT[f.code]) {
          dropOutbox(f.ref); // retrying the same frame cannot succeed
          fail(f.ref, f.message);
          return;
        }
        // Possibly transient (rate limit, a server hiccup): retrying is safe, because the
        // same client_msg_id is stored at most once. After a few tries, wait for a reconnect.
        p.tries = (p.tries || 0) + 1;
        if (p.tries > 3) { fail(f.ref); return; }
        setTimeout(() => trySend(p.item), 1000 * Math.pow(3, p.tries - 1));
      },
      pong() {},
      contact() {},
    };

    function dropStream(id) {
      const s = S.streams[id];
      if (s) { s.row.remove(); delete S.streams[id]; }
    }

    function onFrame(f) { const fn = FRAMES[f.type]; if (fn) fn(f); }

    // --- public API: kefu('open') ... --------------------------------------------------
    function pickLocale() {
      return L.pickLocale(boot.locale) || L.pickLocale(navigator.language) || L.pickLocale(S.settings.locale) || "en";
    }
    function setLocaleCode(code, rebuild) {
      const loc = L.pickLocale(code);
      if (!loc) return;
      S.locale = loc;
      const builtin = L.translator(loc);
      // Tenant wording wins: settings.texts = {"en": {"title": ...}, "zh-hans": {...}}.
      t = (k, vars) => {
        const o = S.settings.texts;
        const own = o && o[loc] && o[loc][k];
        return typeof own === "string" && own ? own : builtin(k, vars);
      };
      if (rebuild && ui.k) buildShell();
    }

    let rebootTimer = 0;
    function reidentify() {
      // Identity or attributes changed after start: bootstrap again and reconnect.
      if (!S.started) return;
      clearTimeout(rebootTimer);
      rebootTimer = setTimeout(() => {
        S.token = null;
        if (S.ws) S.ws.close(); else start();
      }, 50);
    }

    function command(cmd, arg) {
      switch (cmd) {
        case "open": setOpen(true); break;
        case "close": setOpen(false); break;
        case "toggle": setOpen(!S.open); break;
        case "setUser":
          if (arg && arg.id != null) {
            S.user = {id: String(arg.id), name: arg.name || "", email: arg.email || "", hash: arg.hash || ""};
            reidentify();
          }
          break;
        case "setAttributes":
          if (arg && typeof arg === "object") { S.attrs = Object.assign({}, S.attrs, arg); reidentify(); }
          break;
        case "setLocale": S.localeForced = true; setLocaleCode(arg, true); break;
        case "on":
          if (listeners[arg] && typeof arguments[2] === "function") listeners[arg].push(arguments[2]);
          break;
        default: break;
      }
    }

    // The shell is drawn at once from the last known settings (so the launcher shows even
    // while the server is unreachable) and redrawn if the bootstrap brings new ones.
    S.settings = store.get("settings", {});
    setLocaleCode(pickLocale(), false);
    if (boot.locale) S.localeForced = true;
    buildShell();
    boot.api.h = command;
    // Calls queued before the script loaded (setUser, setLocale, open) apply before the
    // first bootstrap.
    boot.q.splice(0).forEach((args) => command.apply(null, args));
    W.addEventListener("online", () => { if (!S.ws) { S.retry = 0; start(); } });
    start();
  });
})();
