// The agent socket: reconnects with backoff, re-watches open conversations with their
// last seq (the server replays from the database), answers nothing itself.

export class AgentSocket {
  constructor(path) {
    this.path = path;
    this.handlers = new Map();
    this.watching = new Map(); // conversation_id -> () => last_seq
    this.queue = [];
    this.attempt = 0;
    this.ws = null;
    this.closedByUs = false;
  }

  on(type, fn) { this.handlers.set(type, fn); return this; }

  emit(type, frame) { const fn = this.handlers.get(type); if (fn) fn(frame); }

  connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}${this.path}`);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.emit("_open", {});
      for (const [id, lastSeq] of this.watching) this.send({ type: "watch", conversation_id: id, last_seq: lastSeq() });
      const pending = this.queue.splice(0);
      pending.forEach((f) => this.send(f));
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.send({ type: "ping", ts: Date.now() }), 25000);
    };
    ws.onmessage = (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame && typeof frame.type === "string") this.emit(frame.type, frame);
    };
    ws.onclose = (ev) => {
      clearInterval(this.pinger);
      this.emit("_close", { code: ev.code });
      if (this.closedByUs || ev.code === 4010 || ev.code === 4001) {
        if (ev.code === 4010 || ev.code === 4001) location.reload();
        return;
      }
      // Exponential backoff with jitter so a restart does not bring a stampede.
      const delay = Math.min(15000, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt += 1;
      setTimeout(() => this.connect(), delay);
    };
  }

  get open() { return this.ws && this.ws.readyState === WebSocket.OPEN; }

  send(frame) {
    if (this.open) { this.ws.send(JSON.stringify(frame)); return true; }
    if (frame.type === "send") this.queue.push(frame);
    return false;
  }

  watch(id, lastSeqFn) {
    this.watching.set(id, lastSeqFn);
    this.send({ type: "watch", conversation_id: id, last_seq: lastSeqFn() });
  }

  unwatch(id) {
    if (this.watching.delete(id)) this.send({ type: "unwatch", conversation_id: id });
  }
}
