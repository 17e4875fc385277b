// Which sequence numbers of the current conversation the widget has accounted for.
//
// `last` is the highest number with nothing missing below it: the widget resumes from
// it after a reconnect and reports it as read. A number counts once it arrived as a
// message, or once the server said the visitor will never get it (an internal note:
// docs/protocol.md, "Holes in the visitor's stream").

export class SequenceTracker {
  constructor() {
    this.conversationId = null;
    this.last = 0;
    this.seen = new Set();
  }

  /** Start over for another conversation. */
  reset(conversationId) {
    this.conversationId = conversationId;
    this.last = 0;
    this.seen.clear();
  }

  /** Account for `seq`; true if it was new. */
  see(seq) {
    if (!(seq > this.last) || this.seen.has(seq)) return false;
    this.seen.add(seq);
    this.advance();
    return true;
  }

  /** Everything up to and including `seq` is accounted for (a replay page said so). */
  coverUpTo(seq) {
    if (!(seq > this.last)) return;
    this.last = seq;
    this.advance();
  }

  /** True if `seq` is beyond a gap: something before it has not arrived yet. */
  isAhead(seq) {
    return seq > this.last + 1;
  }

  advance() {
    while (this.seen.has(this.last + 1)) this.last += 1;
    for (const s of this.seen) if (s <= this.last) this.seen.delete(s);
  }
}
