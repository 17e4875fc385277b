// The visitor's unsent messages, persisted before the first try: a reload or a dead
// socket never loses one, and the same client_msg_id on every retry makes the server
// store it once. `store` is anything with get(key, fallback) and set(key, value).

const KEY = "outbox";

export class Outbox {
  constructor(store) {
    this.store = store;
  }

  items() {
    const items = this.store.get(KEY, []);
    return Array.isArray(items) ? items : [];
  }

  /** Keep `item` until it is acknowledged; adding the same client_msg_id again is a no-op. */
  add(item) {
    const items = this.items();
    if (items.some((x) => x.client_msg_id === item.client_msg_id)) return false;
    items.push(item);
    this.store.set(KEY, items);
    return true;
  }

  /** The server stored it (ack) or will never accept it (permanent error). */
  drop(clientMsgId) {
    const items = this.items();
    const rest = items.filter((x) => x.client_msg_id !== clientMsgId);
    if (rest.length !== items.length) this.store.set(KEY, rest);
  }
}
