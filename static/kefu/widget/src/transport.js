// Talking to the server (docs/protocol.md v1): bootstrap over HTTP, then one WebSocket
// that reconnects with backoff, and the handlers of the frames it receives.

// Errors that retrying the same frame cannot cure.
const PERMANENT = new Set(["empty", "too_long", "bad_kind", "attachment_required", "bad_attachment",
  "bad_frame", "forbidden", "not_found", "too_large"]);

export function installTransport(widget) {
  const { base, boot, state } = widget;

  function send(frame) {
    if (state.ws && state.ready && state.ws.readyState === 1) {
      state.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function bootstrap() {
    const body = { widget_key: boot.key, visitor_id: state.visitorId, page_url: location.href,
      referrer: document.referrer, locale: state.locale };
    if (state.user) {
      // Verified on the server: hash = HMAC-SHA256(identity secret, user id).
      Object.assign(body, { user_id: state.user.id, user_hash: state.user.hash, name: state.user.name,
        email: state.user.email });
    }
    if (state.attributes) body.attributes = state.attributes;
    return fetch(base + "/widget/api/bootstrap", { method: "POST", mode: "cors", credentials: "omit",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then((response) => {
        if (response.status === 403) state.stopped = true;
        if (!response.ok) throw new Error("bootstrap " + response.status);
        return response.json();
      })
      .then((answer) => {
        if (state.visitorId && answer.visitor_id !== state.visitorId) widget.resetConversation();
        state.visitorId = answer.visitor_id;
        widget.store.set("vid", state.visitorId);
        state.token = answer.token;
        state.tokenExpires = Date.now() + Math.max(60, (answer.expires_in || 3600) - 60) * 1000;
        state.wsPath = answer.ws_path || "/ws/visitor/";
        const settingsBefore = JSON.stringify(state.settings);
        state.settings = answer.settings || {};
        widget.store.set("settings", state.settings);
        state.online = answer.online !== false;
        if (answer.conversation) { state.conv = answer.conversation; widget.setConversation(answer.conversation.id); }
        state.queue = answer.queue_position || 0;
        const localeBefore = state.locale;
        if (!state.localeForced) widget.setLocale(widget.preferredLocale(), false);
        if (settingsBefore !== JSON.stringify(state.settings) || localeBefore !== state.locale) widget.buildShell();
        else widget.renderChrome();
      });
  }

  function start() {
    clearTimeout(state.retryTimer);
    if (state.stopped || state.ws) return;
    state.started = true;
    const fresh = state.token && Date.now() < state.tokenExpires;
    (fresh ? Promise.resolve() : bootstrap()).then(connect, retryLater);
  }

  function retryLater() {
    if (state.stopped) return;
    if (!state.disconnectedAt) state.disconnectedAt = Date.now();
    // Jittered exponential backoff: 0.5 s, 1 s, 2 s ... capped at 15 s, each 50-100 %.
    const delay = Math.min(15000, 500 * Math.pow(2, state.retries++));
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(start, delay / 2 + (Math.random() * delay) / 2);
    setTimeout(widget.renderChrome, 1600);
  }

  function connect() {
    if (state.ws || state.stopped) return;
    const ws = new WebSocket(base.replace(/^http/, "ws") + state.wsPath);
    state.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: "hello", v: 1, token: state.token, last_seq: state.seq.last }));
    ws.onmessage = (e) => {
      let frame;
      try { frame = JSON.parse(e.data); } catch (err) { return; }
      if (frame && typeof frame.type === "string" && FRAMES[frame.type]) FRAMES[frame.type](frame);
    };
    ws.onclose = (e) => {
      if (state.ws !== ws) return;
      state.ws = null;
      state.ready = false;
      clearInterval(state.pingTimer);
      if (e.code === 4003) { state.stopped = true; return; }
      if (e.code === 4001) state.token = null; // expired or rejected: bootstrap again
      Object.values(state.pending).forEach((p) => widget.pendingRow(p.item));
      retryLater();
    };
  }

  /** Identity or attributes changed after start: bootstrap again and reconnect. */
  function reconnectAs() {
    if (!state.started) return;
    clearTimeout(state.reidentifyTimer);
    state.reidentifyTimer = setTimeout(() => {
      state.token = null;
      if (state.ws) state.ws.close();
      else start();
    }, 50);
  }

  const FRAMES = {
    welcome(f) {
      state.ready = true;
      state.retries = 0;
      state.disconnectedAt = 0;
      if ("online" in f) state.online = f.online !== false;
      if (f.conversation) { state.conv = f.conversation; widget.setConversation(f.conversation.id); }
      if (f.last_seq > state.seq.last) {
        // The server replays after hello; ask explicitly only if that did not happen.
        setTimeout(() => {
          if (state.conversationId && f.last_seq > state.seq.last) send({ type: "resume", last_seq: state.seq.last });
        }, 800);
      }
      if (state.contactPending) widget.sendContact(state.contactPending);
      clearInterval(state.pingTimer);
      state.pingTimer = setInterval(() => send({ type: "ping", ts: Date.now() }), 25000);
      widget.flushOutbox();
      widget.markRead();
      widget.renderChrome();
    },
    ack(f) {
      if (!state.conversationId) widget.setConversation(f.conversation_id);
      const pending = state.pending[f.client_msg_id];
      widget.outbox.drop(f.client_msg_id);
      if (pending && !state.rows[f.conversation_id + ":" + f.seq]) {
        // The ack carries no body: complete the pending message from what was sent.
        widget.addMessage({ id: f.id, conversation_id: f.conversation_id, seq: f.seq, client_msg_id: f.client_msg_id,
          sender_type: "visitor", kind: pending.item.kind, body: pending.item.body, created_at: f.created_at,
          attachment: pending.item.attachment || null, _local: true }, false);
      } else if (pending) {
        pending.row.remove();
        delete state.pending[f.client_msg_id];
      }
    },
    message(f) { widget.addMessage(f.message, true); },
    messages(f) {
      const list = f.messages || [];
      list.forEach((m) => widget.addMessage(m, false, true));
      // Internal notes inside the page were left out on purpose: count them as seen.
      if (f.conversation_id === state.conversationId && f.through_seq) state.seq.coverUpTo(f.through_seq);
      widget.afterMessages(false);
      const last = list[list.length - 1];
      const next = f.through_seq || (last && last.seq);
      if (f.has_more && next) send({ type: "resume", last_seq: next });
    },
    skip(f) {
      if (f.conversation_id !== state.conversationId) return;
      widget.accountFor(f.seq);
      widget.markRead();
    },
    "bot.delta"(f) {
      let stream = state.streams[f.stream_id];
      if (!stream) stream = state.streams[f.stream_id] = widget.streamRow();
      widget.hidePeerTyping();
      stream.text += f.text || "";
      stream.bubble.textContent = "";
      stream.bubble.appendChild(widget.markdownBlock(stream.text));
      widget.scrollDown();
    },
    "bot.done"(f) {
      dropStream(f.stream_id);
      if (f.message) widget.addMessage(f.message, true);
    },
    "bot.failed"(f) { dropStream(f.stream_id); },
    typing(f) {
      if (f.sender_type === "visitor") return;
      if (f.state) widget.showPeerTyping(f.name);
      else widget.hidePeerTyping();
    },
    read(f) {
      if (f.reader !== "agent" || f.conversation_id !== state.conversationId) return;
      state.agentRead = Math.max(state.agentRead, f.seq || 0);
      widget.updateReceipts();
    },
    conversation(f) {
      if (!f.conversation) return;
      if (state.conversationId && f.conversation.id !== state.conversationId && f.event !== "opened") return;
      state.conv = f.conversation;
      widget.setConversation(f.conversation.id);
      if (f.event === "closed") state.rating = null;
      if (f.event === "rated") state.rating = "done";
      widget.renderChrome();
    },
    presence(f) {
      if (!("online" in f)) return;
      state.online = !!f.online;
      widget.renderChrome();
    },
    queue(f) {
      state.queue = f.position || 0;
      if (!state.conv && f.conversation_id) state.conv = { id: f.conversation_id };
      if (state.conv && state.queue) state.conv.status = "queued";
      widget.renderChrome();
    },
    error(f) {
      const pending = f.ref && state.pending[f.ref];
      if (!pending) return;
      if (PERMANENT.has(f.code)) {
        widget.outbox.drop(f.ref);
        widget.markFailed(f.ref, f.message);
        return;
      }
      // Possibly transient (rate limit, a server hiccup): retrying is safe, because the
      // same client_msg_id is stored at most once. After a few tries, wait for a reconnect.
      pending.tries = (pending.tries || 0) + 1;
      if (pending.tries > 3) { widget.markFailed(f.ref); return; }
      setTimeout(() => widget.trySend(pending.item), 1000 * Math.pow(3, pending.tries - 1));
    },
    pong() {},
    contact() {},
  };

  function dropStream(id) {
    const stream = state.streams[id];
    if (stream) { stream.row.remove(); delete state.streams[id]; }
  }

  Object.assign(widget, { send, start, reconnectAs });
}
