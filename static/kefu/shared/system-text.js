// System texts (an event line, the bot's fixed sentences, notes for agents) arrive as a
// code and parameters (meta.code, meta.params; kefu/system_texts.py) and are shown in the
// reader's language. The widget looks templates up in system-texts.json, the console in
// its dictionary; both render them here.

/**
 * The text of a message's system code, or null when it has none or the code is unknown.
 * `template(code)` returns the template or null; `formatTime(iso)` shows a moment.
 * A parameter may be {code, params} (translated in turn) or {time} (a moment).
 */
export function systemText(meta, template, formatTime) {
  if (!meta || typeof meta.code !== "string") return null;
  const render = (code, params, depth) => {
    const text = template(code);
    if (typeof text !== "string" || depth > 3) return null;
    return text.replace(/\{(\w+)\}/g, (whole, name) => {
      const value = params && params[name];
      if (value == null) return whole;
      if (typeof value === "object" && typeof value.code === "string") return render(value.code, value.params, depth + 1) ?? "";
      if (typeof value === "object" && value.time) return formatTime(String(value.time));
      return String(value);
    });
  };
  const text = render(meta.code, meta.params || {}, 0);
  return text == null ? null : text.trim();
}

/** A moment as the reader would say it: weekday, date and time in their own time zone. */
export function formatMoment(iso, locale) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  return when.toLocaleString(locale === "zh-hans" ? "zh-CN" : locale || "en", {
    weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}
